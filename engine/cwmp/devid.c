/* devid.c: the device id of DESIGN.md's Contracts.
 *
 * OUI-ProductClass-SerialNumber (OUI-SerialNumber without a product class);
 * in each part every byte outside [A-Za-z0-9_.~] is percent-encoded with
 * upper-case hex, so '-' inside a part is %2D and the separator stays
 * unambiguous. */
#include <string.h>

#include "core/acs_err.h"
#include "cwmp/acs_cwmp.h"

static void put_part(acs_buf *out, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char ch = *p;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '_' || ch == '.' || ch == '~') {
      acs_buf_putc(out, (char)ch);
    } else {
      char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      acs_buf_append(out, esc, 3);
    }
  }
}

int acs_cwmp_device_id_format(const char *oui, const char *product_class, const char *serial,
                              acs_buf *out) {
  if (!oui || !*oui || !serial || !*serial) return ACS_EINVAL;
  put_part(out, oui);
  acs_buf_putc(out, '-');
  if (product_class && *product_class) {
    put_part(out, product_class);
    acs_buf_putc(out, '-');
  }
  put_part(out, serial);
  return acs_buf_err(out);
}
