/* certbind.c: a CPE's client certificate bound to the device it informs
 * for (mutual TLS, docs/security.md ("TLS")).
 *
 * A connection without a verified client certificate is not concerned
 * (plain HTTP, or TLS with client certificates optional and none sent:
 * CPE authentication decides). A verified certificate names the device
 * when one of its names (the subject's commonName, a subjectAltName
 * dNSName or URI) is exactly, byte for byte:
 *   - the device id of the Contracts, OUI-ProductClass-SerialNumber
 *     (OUI-SerialNumber without a product class), percent-encoded as there;
 *   - OUI-SerialNumber with the Inform's values as they are (the form
 *     TR-069 suggests for a CPE certificate's commonName);
 *   - with tls-client-match = serial, the SerialNumber alone (for fleets
 *     whose certificates name the serial only; any OUI then matches).
 * Otherwise the session is refused. */
#include <stdio.h>
#include <string.h>

#include "session/session_internal.h"

static bool name_matches(const char *name, const acs_cwmp_device_id *d, const char *device_id,
                         bool serial_alone) {
  if (!name || !*name) return false;
  if (strcmp(name, device_id) == 0) return true;
  const char *oui = d->oui ? d->oui : "", *sn = d->serial_number ? d->serial_number : "";
  size_t lo = strlen(oui);
  if (*oui && *sn && strncmp(name, oui, lo) == 0 && name[lo] == '-' &&
      strcmp(name + lo + 1, sn) == 0)
    return true;
  return serial_alone && *sn && strcmp(name, sn) == 0;
}

bool acs__cert_binds(const acs_conn *c, const acs_cwmp_device_id *d, const char *device_id,
                     bool serial_alone) {
  const acs_tls_peer *p = acs_conn_tls_peer(c);
  if (!p) return true;
  if (name_matches(p->subject_cn, d, device_id, serial_alone)) return true;
  for (size_t i = 0; i < p->n_names; i++)
    if (name_matches(p->names[i], d, device_id, serial_alone)) return true;
  return false;
}
