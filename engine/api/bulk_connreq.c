/* bulk_connreq.c: what a bulk action does for its connection_request flag
 * (acs_bulk.h): each task it made asks its device to connect through the
 * worker's connection request pool (engine/connreq), without waiting; the
 * outcome is recorded on the task (result.connection_request) as for the
 * task API. A request that cannot be queued leaves the task for the
 * device's next Inform and is counted. */
#include <stdatomic.h>

#include "api/acs_bulk.h"
#include "connreq/acs_connreq_device.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

static _Atomic unsigned long long not_sent;

void acs_bulk_connection_request(acs_app_worker *aw, long long bulk_id, long long task_id,
                                 const char *device_id) {
  int rc = acs_connreq_device(aw, device_id, task_id, 0, NULL, NULL);
  if (rc && atomic_fetch_add(&not_sent, 1) == 0)
    acs_log(ACS_LOG_WARN, "bulk",
            "bulk action %lld: task %lld for %s: no connection request (%s); the device gets "
            "it at its next Inform",
            bulk_id, task_id, device_id, acs_strerror(rc));
}

unsigned long long acs_bulk_connreq_not_sent(void) { return atomic_load(&not_sent); }
