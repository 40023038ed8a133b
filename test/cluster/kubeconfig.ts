// Kubeconfig documents for the test control plane: the admin (client certificate in
// system:masters) and the same admin impersonating another user, typically a ServiceAccount,
// so a test can act with exactly the RBAC a chart grants.
import { stringify } from 'yaml';

export interface KubeconfigInput {
  readonly server: string;
  readonly caPem: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  /** Username to impersonate (kubeconfig `as`); the admin certificate authorizes it. */
  readonly impersonate?: string;
  readonly namespace?: string;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The username Kubernetes gives ServiceAccount NAME in NAMESPACE. */
export function serviceAccountUser(namespace: string, name: string): string {
  if (!dnsLabel.test(namespace))
    throw new Error(`namespace "${namespace}" is not a DNS label (lowercase a-z, 0-9, '-')`);
  if (!dnsSubdomain.test(name)) throw new Error(`ServiceAccount name "${name}" is not a DNS subdomain`);
  return `system:serviceaccount:${namespace}:${name}`;
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

/** A self-contained kubeconfig (certificates embedded) with one context, `conclab-test`. */
export function renderKubeconfig(input: KubeconfigInput): string {
  const user: Record<string, string> = {
    'client-certificate-data': base64(input.clientCertPem),
    'client-key-data': base64(input.clientKeyPem),
  };
  // When impersonating a ServiceAccount without naming groups, the API server adds the
  // system:serviceaccounts and system:serviceaccounts:NAMESPACE groups itself.
  if (input.impersonate !== undefined) user.as = input.impersonate;
  const context: Record<string, string> = { cluster: 'conclab-test', user: 'conclab-test' };
  if (input.namespace !== undefined) context.namespace = input.namespace;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'conclab-test', cluster: { server: input.server, 'certificate-authority-data': base64(input.caPem) } },
    ],
    users: [{ name: 'conclab-test', user }],
    contexts: [{ name: 'conclab-test', context }],
    'current-context': 'conclab-test',
    preferences: {},
  });
}
