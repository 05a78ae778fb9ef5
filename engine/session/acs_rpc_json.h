/* acs_rpc_json.h: CWMP messages <-> JSON, for tasks (their arguments come
 * from the REST API as JSON and their results go back as JSON).
 *
 * Driven by the codec's own descriptor tables (cwmp/cwmp_internal.h), so
 * every RPC the codec knows is covered and the JSON names are the CWMP
 * element names of the schemas:
 *
 *   {"ParameterList": [{"Name": "Device.WiFi.SSID.1.SSID", "Value": "home",
 *                       "Type": "xsd:string"}],
 *    "ParameterKey": "k1"}
 *
 * Strings are JSON strings; unsignedInt/int fields JSON integers (a string of
 * digits, with a '-' for int, is accepted too; values outside uint32/int32
 * are errors); booleans JSON true/false (also 0/1, "true", "false", "0",
 * "1"); dateTime fields strings that acs_cwmp_time_parse() takes (or "");
 * arrays JSON arrays; embedded structs objects. A ParameterValueStruct's
 * value is "Value" (a JSON string, integer, real or boolean; integers are
 * written in decimal, reals in the shortest form that reads back the same,
 * booleans as "true"/"false") with its xsd type in "Type" ("xsd:unsignedInt"
 * or "unsignedInt"; "soap-enc:base64" as well; every name
 * acs_cwmp_type_from_name() knows, any other is an error; absent: boolean for
 * a JSON boolean, int for a negative integer, unsignedInt for a non-negative
 * one, long / unsignedLong for integers beyond 32 bits, else string). Absent
 * fields, and fields given as null, take the codec's defaults (NULL strings,
 * 0, false, empty arrays). ChangeDUState's "Operations" are objects with
 * "Op": "Install" | "Update" | "Uninstall" (or "InstallOpStruct", ...) plus
 * the operation's fields. Unknown keys are errors (a misspelt argument must
 * not be dropped silently).
 *
 * Back to JSON, the same shape: a NULL string is left out (so
 * to_json(from_json(x)) loses nothing x gave; a parsed message has "" for an
 * empty element), but a NULL item of a string array is ""; numbers, booleans,
 * embedded structs and arrays (empty ones too) are always there. A Value's
 * "Type" is the encoder's spelling ("xsd:int", "soap-enc:base64") and is left
 * out for a value that came without xsi:type (ACS_XSD_ANY), which therefore
 * comes back from JSON as a string. Each DU operation starts with its "Op".
 *
 * Pure: no I/O. Everything a decoded message points to lives in the arena. */
#ifndef ACS_RPC_JSON_H
#define ACS_RPC_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"

/* The ACS->CPE RPCs a task may carry (GetParameterValues .. ChangeDUState,
 * GetRPCMethods): true for those kinds. */
bool acs_rpc_is_task_kind(acs_cwmp_kind k);
/* One-shot RPCs (Reboot, FactoryReset, Download, Upload, ScheduleInform,
 * ScheduleDownload, ChangeDUState): recorded as sent before they go out. */
bool acs_rpc_is_one_shot(acs_cwmp_kind k);

/* A task that is not an RPC: "run these provisions with these arguments"
 * in the device's next session, args {"provisions": ["NAME", ...],
 * "args": {...}}. */
#define ACS_RPC_PROVISION "Provision"
#define ACS_RPC_PROVISIONS_MAX 32
/* 0, or ACS_EINVAL with the reason in err (names: 1..64 of [A-Za-z0-9_-/]). */
int acs_rpc_provision_check(const json_t *args, char *err, size_t errlen);

/* Fills out (kind, body; header fields untouched but zeroed) from args (an
 * object; NULL or null means {}). Works for every kind with a body (the
 * responses and CPE requests too) and for ACS_CWMP_FAULT in the shape
 * acs_rpc_to_json() gives. Returns 0, or ACS_EINVAL with a message naming the
 * offending key path in err ("ParameterList[2].Name: expected a string, got
 * 5"; "arguments: ..." for args itself; kinds without a body, NONE
 * and UNKNOWN, are ACS_EINVAL too) or ACS_ENOMEM. On error out's body is
 * zeroed again; what was copied stays in the arena until it is reset. err
 * may be NULL. */
int acs_rpc_from_json(acs_cwmp_kind kind, const json_t *args, acs_arena *arena, acs_cwmp_msg *out,
                      char *err, size_t errlen);

/* The body of msg as a new JSON object in the same shape (for a response:
 * the task's result); the caller json_decref()s it. NULL on allocation
 * failure. Kinds without a body (NONE, UNKNOWN) give {}. Bytes that are not
 * UTF-8 become U+FFFD. For ACS_CWMP_FAULT:
 * {"FaultCode": 9005, "FaultString": "...", "SetParameterValuesFault":
 * [{"ParameterName", "FaultCode", "FaultString"}]} (the list only when not
 * empty; a NULL FaultString gives the standard text of the code, as the
 * encoder sends it; the SOAP faultcode/faultstring are not included). */
json_t *acs_rpc_to_json(const acs_cwmp_msg *msg);

#endif
