// Exit codes shared by every conclab command.
export const EXIT_OK = 0;
/** The command ran and found a problem: an invalid manifest, a failed run. */
export const EXIT_FAILED = 1;
/** Usage error or unreadable input: the command could not do its job. */
export const EXIT_USAGE = 2;
