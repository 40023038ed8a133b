// Placeholder until the CLI lands: the commands are wired in operator/cli/.
console.log('conclab: no commands yet');
