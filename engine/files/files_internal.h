/* files_internal.h: what the files of engine/files share (not a public
 * header). */
#ifndef ACS_FILES_INTERNAL_H
#define ACS_FILES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "files/acs_files.h"
#include "store/acs_pg.h"

struct acs_files_worker {
  acs_app_worker *aw;
  acs_pg *pg; /* opened on first use */
  bool stopping;
  void (*done)(void *arg);
  void *done_arg;
};

/* Flags of a files statement: wait for the first connection, then fail
 * fast while the store is down (as the API does). */
unsigned acs__files_flags(acs_pg *pg);
/* base64url of n bytes, n a multiple of 3 (4n/3 characters and a NUL). */
void acs__files_base64url(const unsigned char *d, size_t n, char *out);

#endif
