/* acs_script_lint.h: static checks of a policy against the sandbox it will
 * run in (lint.c), as luacheck would make them with the sandbox's globals
 * declared, but with the globals taken from the VM itself: the frozen API
 * and the current generation's library (its globals and lazy globals), so
 * the check can never drift from what a run really sees.
 *
 * The text is compiled (mode "t"), dumped with its debug information and
 * its bytecode scanned: every read (GETTABUP) and write (SETTABUP) of a
 * field of the _ENV upvalue is a global access. Findings:
 *   - "unknown global 'x'": a read of a name no run has (it raises at run
 *     time);
 *   - "setting unknown global 'x' (use a local)": a write of a name the
 *     sandbox does not define;
 *   - "setting global 'x' shadows the API's": a write of an API or library
 *     name (the run's copy hides the shared one from then on);
 *   - "unknown field 'y' of global 'x'": a read of a missing field of a
 *     read-only API table (string.dump, os.execute, acs.nothing);
 *   - "setting field 'y' of read-only global 'x'": a write into one.
 * Fields are checked where the table is the one a global read just loaded
 * (the pattern `string.format(...)`, `acs.log(...)`, `acs:x()`); values
 * reached another way (locals, upvalues) are not followed. */
#ifndef ACS_SCRIPT_LINT_H
#define ACS_SCRIPT_LINT_H

#include <stddef.h>

#include "script/acs_script.h"

/* One finding: its line in the text and the message (no "name:line:"). */
typedef void (*acs_script_lint_fn)(void *ud, int line, const char *message);

/* Checks the policy text (as acs_script_vm_load would compile it) against
 * vm's API and current generation. Calls fn once per finding, in the order
 * of the code, and returns how many there were (>= 0); ACS_EINVAL with
 * "name:line: message" in err when the text does not compile; ACS_ENOMEM;
 * ACS_ESTATE inside a run's resume. */
int acs_script_lint(acs_script_vm *vm, const char *name, const char *text, size_t len,
                    acs_script_lint_fn fn, void *ud, char *err, size_t errlen);

#endif
