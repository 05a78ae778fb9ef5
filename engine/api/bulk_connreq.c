/* bulk_connreq.c: what a bulk action does for its connection_request flag
 * (acs_bulk.h). Connection requests are not yet wired into task creation:
 * this stub counts the tasks that would have asked their device to connect
 * and logs the first, so that nothing is silently dropped; the devices get
 * their tasks at their next periodic Inform. The connection-request piece
 * replaces this file. */
#include <stdatomic.h>

#include "api/acs_bulk.h"
#include "core/acs_log.h"

static _Atomic unsigned long long unwired;

void acs_bulk_connection_request(acs_app_worker *aw, long long bulk_id, long long task_id,
                                 const char *device_id) {
  (void)aw;
  if (atomic_fetch_add(&unwired, 1) == 0)
    acs_log(ACS_LOG_WARN, "bulk",
            "bulk action %lld: task %lld for %s: connection requests are not wired into task "
            "creation yet; the device gets it at its next Inform",
            bulk_id, task_id, device_id);
}

unsigned long long acs_bulk_connreq_unwired(void) { return atomic_load(&unwired); }
