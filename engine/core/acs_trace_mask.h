/* acs_trace_mask.h: what a wire trace keeps of a CWMP message (docs/
 * operations.md, "Wire traces"): the bytes as they were, but secrets
 * masked, so that a trace can be read by whoever may read traces. Pure
 * text work, no parse (a trace must show malformed messages too). */
#ifndef ACS_TRACE_MASK_H
#define ACS_TRACE_MASK_H

#include <stddef.h>

#include "core/acs_buf.h"

#define ACS_TRACE_MASK "***"

/* Appends body (n bytes) to out with secrets replaced by ACS_TRACE_MASK:
 * the Value of every ParameterValueStruct whose Name is a secret parameter
 * (core/acs_secret_param.h: SetParameterValues, GetParameterValuesResponse,
 * Inform), and the content of every Password element (Download, Upload).
 * Elements may carry a namespace prefix. */
void acs_trace_mask_body(const char *body, size_t n, acs_buf *out);

/* Appends an HTTP header line "Name: value\r\n" to out, the value masked
 * when the header carries credentials (Authorization,
 * Proxy-Authorization, Cookie is kept: it is the session's id only). */
void acs_trace_mask_header(const char *name, const char *value, acs_buf *out);

#endif
