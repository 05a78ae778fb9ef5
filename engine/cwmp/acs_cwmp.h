/* acs_cwmp.h: the CWMP (TR-069) SOAP codec, pure: bytes in, structs out, and
 * structs in, bytes out. No I/O, no loop, no Lua.
 *
 * It handles every CPE->ACS and ACS->CPE RPC of CWMP 1.0-1.4 with its
 * response, and SOAP faults with CWMP fault details, in both directions (the
 * engine is the ACS; the CPE simulator and the tests play the CPE).
 *
 * Parsing is by namespace, never by prefix; it refuses DTDs, entities and
 * network access and bounds nesting depth, element count and input size.
 * Everything a parsed message points to lives in the arena passed to
 * acs_cwmp_parse(), so freeing is one acs_arena_reset().
 *
 * Encoding emits no XML declaration, the "soap-env" prefix, the message's own
 * CWMP namespace, and envelopes that validate against the official schemas. */
#ifndef ACS_CWMP_H
#define ACS_CWMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_arena.h"
#include "core/acs_buf.h"

/* urn:dslforum-org:cwmp-1-N. CWMP 1.3 and 1.4 use the cwmp-1-2 namespace;
 * cwmp-1-3 and cwmp-1-4, which some CPEs send anyway, are accepted and
 * answered in kind. */
typedef enum acs_cwmp_ns {
  ACS_CWMP_NS_1_0 = 0,
  ACS_CWMP_NS_1_1,
  ACS_CWMP_NS_1_2,
  ACS_CWMP_NS_1_3,
  ACS_CWMP_NS_1_4,
  ACS_CWMP_NS_COUNT
} acs_cwmp_ns;

const char *acs_cwmp_ns_uri(acs_cwmp_ns ns);

/* Arrays: items plus count; every parsed array is arena memory. */
#define ACS_CWMP_ARRAY(T) \
  struct {                \
    T *v;                 \
    size_t n;             \
  }

typedef ACS_CWMP_ARRAY(char *) acs_cwmp_strings;

/* Value types of ParameterValueStruct (xsi:type). */
typedef enum acs_cwmp_type {
  ACS_XSD_STRING = 0,
  ACS_XSD_INT,
  ACS_XSD_UNSIGNEDINT,
  ACS_XSD_LONG,
  ACS_XSD_UNSIGNEDLONG,
  ACS_XSD_BOOLEAN,
  ACS_XSD_DATETIME,
  ACS_XSD_BASE64,
  ACS_XSD_HEXBINARY,
  ACS_XSD_DECIMAL, /* seen on some stacks; kept rather than guessed */
  ACS_XSD_OBJECT,  /* xsi:type="object": an object some stacks answer a partial path with */
  ACS_XSD_ANY,     /* no xsi:type given */
  ACS_XSD_COUNT
} acs_cwmp_type;

/* "string", "unsignedInt", ... ; and back (unknown names -> ACS_XSD_STRING). */
const char *acs_cwmp_type_name(acs_cwmp_type t);
acs_cwmp_type acs_cwmp_type_from_name(const char *local_name);

/* ---- structures shared by several messages ---- */

typedef struct acs_cwmp_device_id {
  char *manufacturer, *oui, *product_class, *serial_number;
} acs_cwmp_device_id;

typedef struct acs_cwmp_event {
  char *code;        /* "0 BOOTSTRAP", "M Reboot", ... */
  char *command_key; /* "" when empty */
} acs_cwmp_event;

typedef struct acs_cwmp_param_value {
  char *name;
  char *value;
  acs_cwmp_type type;
} acs_cwmp_param_value;
typedef ACS_CWMP_ARRAY(acs_cwmp_param_value) acs_cwmp_param_values;

typedef struct acs_cwmp_param_info {
  char *name;
  bool writable;
} acs_cwmp_param_info;

typedef struct acs_cwmp_set_attr {
  char *name;
  bool notification_change;
  int notification; /* 0 off, 1 passive, 2 active, 3-6 per CWMP 1.4 */
  bool access_list_change;
  acs_cwmp_strings access_list;
} acs_cwmp_set_attr;

typedef struct acs_cwmp_param_attr {
  char *name;
  int notification;
  acs_cwmp_strings access_list;
} acs_cwmp_param_attr;

typedef struct acs_cwmp_fault_struct { /* TransferComplete / DU faults */
  uint32_t code;                       /* 0: no fault */
  char *string;
} acs_cwmp_fault_struct;

typedef struct acs_cwmp_time_window {
  uint32_t window_start, window_end;
  char *window_mode; /* "1 At Any Time", ... */
  char *user_message;
  int32_t max_retries;
} acs_cwmp_time_window;

typedef struct acs_cwmp_queued_transfer {
  char *command_key;
  int state; /* 1 not yet started, 2 in progress, 3 completed */
  /* GetAllQueuedTransfers only: */
  bool is_download;
  char *file_type;
  uint32_t file_size;
  char *target_file_name;
} acs_cwmp_queued_transfer;

typedef struct acs_cwmp_arg {
  char *name, *value;
} acs_cwmp_arg;

typedef enum acs_cwmp_du_op_kind {
  ACS_CWMP_DU_INSTALL = 0,
  ACS_CWMP_DU_UPDATE,
  ACS_CWMP_DU_UNINSTALL,
} acs_cwmp_du_op_kind;

typedef struct acs_cwmp_du_op { /* ChangeDUState Operations */
  acs_cwmp_du_op_kind kind;
  /* NULL means "element absent" (all are optional but Install's URL and
   * Uninstall's UUID). */
  char *url, *uuid, *username, *password, *execution_env_ref, *version;
} acs_cwmp_du_op;

typedef struct acs_cwmp_du_result { /* (Autonomous)DUStateChangeComplete Results */
  char *uuid, *deployment_unit_ref, *version, *current_state;
  bool resolved;
  char *execution_unit_ref_list;
  char *start_time, *complete_time;
  acs_cwmp_fault_struct fault;
  char *operation_performed; /* Autonomous only: "Install", "Update", "Uninstall" */
} acs_cwmp_du_result;

typedef struct acs_cwmp_spv_fault {
  char *parameter_name;
  uint32_t code;
  char *string;
} acs_cwmp_spv_fault;

/* ---- messages ----
 * X(ENUM, ElementName, body-member, body-type). One line per message; the
 * same table drives the parser, the encoder and the name lookups. */
#define ACS_CWMP_MESSAGES(X)                                                                 \
  /* CPE -> ACS requests and the ACS's responses */                                          \
  X(INFORM, Inform, inform, acs_cwmp_inform)                                                 \
  X(INFORM_RESPONSE, InformResponse, inform_response, acs_cwmp_inform_response)              \
  X(TRANSFER_COMPLETE, TransferComplete, transfer_complete, acs_cwmp_transfer_complete)      \
  X(TRANSFER_COMPLETE_RESPONSE, TransferCompleteResponse, none, acs_cwmp_empty)              \
  X(AUTONOMOUS_TRANSFER_COMPLETE, AutonomousTransferComplete, autonomous_transfer_complete,  \
    acs_cwmp_autonomous_transfer_complete)                                                   \
  X(AUTONOMOUS_TRANSFER_COMPLETE_RESPONSE, AutonomousTransferCompleteResponse, none,         \
    acs_cwmp_empty)                                                                          \
  X(REQUEST_DOWNLOAD, RequestDownload, request_download, acs_cwmp_request_download)          \
  X(REQUEST_DOWNLOAD_RESPONSE, RequestDownloadResponse, none, acs_cwmp_empty)                \
  X(DU_STATE_CHANGE_COMPLETE, DUStateChangeComplete, du_state_change_complete,               \
    acs_cwmp_du_state_change_complete)                                                       \
  X(DU_STATE_CHANGE_COMPLETE_RESPONSE, DUStateChangeCompleteResponse, none, acs_cwmp_empty)  \
  X(AUTONOMOUS_DU_STATE_CHANGE_COMPLETE, AutonomousDUStateChangeComplete,                    \
    autonomous_du_state_change_complete, acs_cwmp_autonomous_du_state_change_complete)       \
  X(AUTONOMOUS_DU_STATE_CHANGE_COMPLETE_RESPONSE, AutonomousDUStateChangeCompleteResponse,   \
    none, acs_cwmp_empty)                                                                    \
  X(KICKED, Kicked, kicked, acs_cwmp_kicked)                                                 \
  X(KICKED_RESPONSE, KickedResponse, kicked_response, acs_cwmp_kicked_response)              \
  /* either direction */                                                                     \
  X(GET_RPC_METHODS, GetRPCMethods, none, acs_cwmp_empty)                                    \
  X(GET_RPC_METHODS_RESPONSE, GetRPCMethodsResponse, get_rpc_methods_response,               \
    acs_cwmp_get_rpc_methods_response)                                                       \
  /* ACS -> CPE requests and the CPE's responses */                                          \
  X(GET_PARAMETER_VALUES, GetParameterValues, get_parameter_values, acs_cwmp_names_req)      \
  X(GET_PARAMETER_VALUES_RESPONSE, GetParameterValuesResponse, get_parameter_values_response, \
    acs_cwmp_gpv_response)                                                                   \
  X(GET_PARAMETER_NAMES, GetParameterNames, get_parameter_names, acs_cwmp_gpn)               \
  X(GET_PARAMETER_NAMES_RESPONSE, GetParameterNamesResponse, get_parameter_names_response,   \
    acs_cwmp_gpn_response)                                                                   \
  X(SET_PARAMETER_VALUES, SetParameterValues, set_parameter_values, acs_cwmp_spv)            \
  X(SET_PARAMETER_VALUES_RESPONSE, SetParameterValuesResponse, status_response,              \
    acs_cwmp_status_response)                                                                \
  X(GET_PARAMETER_ATTRIBUTES, GetParameterAttributes, get_parameter_attributes,              \
    acs_cwmp_names_req)                                                                      \
  X(GET_PARAMETER_ATTRIBUTES_RESPONSE, GetParameterAttributesResponse,                       \
    get_parameter_attributes_response, acs_cwmp_gpa_response)                                \
  X(SET_PARAMETER_ATTRIBUTES, SetParameterAttributes, set_parameter_attributes, acs_cwmp_spa) \
  X(SET_PARAMETER_ATTRIBUTES_RESPONSE, SetParameterAttributesResponse, none, acs_cwmp_empty) \
  X(ADD_OBJECT, AddObject, add_object, acs_cwmp_object_req)                                  \
  X(ADD_OBJECT_RESPONSE, AddObjectResponse, add_object_response, acs_cwmp_add_object_response) \
  X(DELETE_OBJECT, DeleteObject, delete_object, acs_cwmp_object_req)                         \
  X(DELETE_OBJECT_RESPONSE, DeleteObjectResponse, status_response, acs_cwmp_status_response) \
  X(REBOOT, Reboot, command_key_req, acs_cwmp_command_key_req)                               \
  X(REBOOT_RESPONSE, RebootResponse, none, acs_cwmp_empty)                                   \
  X(FACTORY_RESET, FactoryReset, none, acs_cwmp_empty)                                       \
  X(FACTORY_RESET_RESPONSE, FactoryResetResponse, none, acs_cwmp_empty)                      \
  X(DOWNLOAD, Download, download, acs_cwmp_download)                                         \
  X(DOWNLOAD_RESPONSE, DownloadResponse, transfer_response, acs_cwmp_transfer_response)      \
  X(UPLOAD, Upload, upload, acs_cwmp_upload)                                                 \
  X(UPLOAD_RESPONSE, UploadResponse, transfer_response, acs_cwmp_transfer_response)          \
  X(SCHEDULE_INFORM, ScheduleInform, schedule_inform, acs_cwmp_schedule_inform)              \
  X(SCHEDULE_INFORM_RESPONSE, ScheduleInformResponse, none, acs_cwmp_empty)                  \
  X(SCHEDULE_DOWNLOAD, ScheduleDownload, schedule_download, acs_cwmp_schedule_download)      \
  X(SCHEDULE_DOWNLOAD_RESPONSE, ScheduleDownloadResponse, none, acs_cwmp_empty)              \
  X(CANCEL_TRANSFER, CancelTransfer, command_key_req, acs_cwmp_command_key_req)              \
  X(CANCEL_TRANSFER_RESPONSE, CancelTransferResponse, none, acs_cwmp_empty)                  \
  X(GET_QUEUED_TRANSFERS, GetQueuedTransfers, none, acs_cwmp_empty)                          \
  X(GET_QUEUED_TRANSFERS_RESPONSE, GetQueuedTransfersResponse, queued_transfers_response,    \
    acs_cwmp_queued_transfers_response)                                                      \
  X(GET_ALL_QUEUED_TRANSFERS, GetAllQueuedTransfers, none, acs_cwmp_empty)                   \
  X(GET_ALL_QUEUED_TRANSFERS_RESPONSE, GetAllQueuedTransfersResponse,                        \
    queued_transfers_response, acs_cwmp_queued_transfers_response)                           \
  X(CHANGE_DU_STATE, ChangeDUState, change_du_state, acs_cwmp_change_du_state)               \
  X(CHANGE_DU_STATE_RESPONSE, ChangeDUStateResponse, none, acs_cwmp_empty)

typedef enum acs_cwmp_kind {
  ACS_CWMP_NONE = 0, /* an envelope with an empty Body */
#define ACS_CWMP_KIND_ENUM(E, el, m, t) ACS_CWMP_##E,
  ACS_CWMP_MESSAGES(ACS_CWMP_KIND_ENUM)
#undef ACS_CWMP_KIND_ENUM
  ACS_CWMP_FAULT,   /* SOAP Fault with a cwmp:Fault detail */
  ACS_CWMP_UNKNOWN, /* a well-formed envelope whose method this codec does not know */
  ACS_CWMP_KIND_COUNT
} acs_cwmp_kind;

typedef struct acs_cwmp_empty {
  char unused_;
} acs_cwmp_empty;

typedef struct acs_cwmp_inform {
  acs_cwmp_device_id device_id;
  ACS_CWMP_ARRAY(acs_cwmp_event) events;
  uint32_t max_envelopes;
  char *current_time; /* as sent; see acs_cwmp_time_parse() */
  uint32_t retry_count;
  acs_cwmp_param_values params;
} acs_cwmp_inform;

typedef struct acs_cwmp_inform_response {
  uint32_t max_envelopes;
} acs_cwmp_inform_response;

typedef struct acs_cwmp_transfer_complete {
  char *command_key;
  acs_cwmp_fault_struct fault;
  char *start_time, *complete_time;
} acs_cwmp_transfer_complete;

typedef struct acs_cwmp_autonomous_transfer_complete {
  char *announce_url, *transfer_url;
  bool is_download;
  char *file_type;
  uint32_t file_size;
  char *target_file_name;
  acs_cwmp_fault_struct fault;
  char *start_time, *complete_time;
} acs_cwmp_autonomous_transfer_complete;

typedef struct acs_cwmp_request_download {
  char *file_type;
  ACS_CWMP_ARRAY(acs_cwmp_arg) args;
} acs_cwmp_request_download;

typedef struct acs_cwmp_du_state_change_complete {
  ACS_CWMP_ARRAY(acs_cwmp_du_result) results;
  char *command_key;
} acs_cwmp_du_state_change_complete;

typedef struct acs_cwmp_autonomous_du_state_change_complete {
  ACS_CWMP_ARRAY(acs_cwmp_du_result) results;
} acs_cwmp_autonomous_du_state_change_complete;

typedef struct acs_cwmp_kicked {
  char *command, *referer, *arg, *next;
} acs_cwmp_kicked;

typedef struct acs_cwmp_kicked_response {
  char *next_url;
} acs_cwmp_kicked_response;

typedef struct acs_cwmp_get_rpc_methods_response {
  acs_cwmp_strings methods;
} acs_cwmp_get_rpc_methods_response;

typedef struct acs_cwmp_names_req { /* GetParameterValues, GetParameterAttributes */
  acs_cwmp_strings names;
} acs_cwmp_names_req;

typedef struct acs_cwmp_gpv_response {
  acs_cwmp_param_values params;
} acs_cwmp_gpv_response;

typedef struct acs_cwmp_gpn {
  char *parameter_path;
  bool next_level;
} acs_cwmp_gpn;

typedef struct acs_cwmp_gpn_response {
  ACS_CWMP_ARRAY(acs_cwmp_param_info) params;
} acs_cwmp_gpn_response;

typedef struct acs_cwmp_spv {
  acs_cwmp_param_values params;
  char *parameter_key;
} acs_cwmp_spv;

typedef struct acs_cwmp_status_response { /* SetParameterValues, DeleteObject */
  int status;
} acs_cwmp_status_response;

typedef struct acs_cwmp_gpa_response {
  ACS_CWMP_ARRAY(acs_cwmp_param_attr) params;
} acs_cwmp_gpa_response;

typedef struct acs_cwmp_spa {
  ACS_CWMP_ARRAY(acs_cwmp_set_attr) params;
} acs_cwmp_spa;

typedef struct acs_cwmp_object_req { /* AddObject, DeleteObject */
  char *object_name;
  char *parameter_key;
} acs_cwmp_object_req;

typedef struct acs_cwmp_add_object_response {
  uint32_t instance_number;
  int status;
} acs_cwmp_add_object_response;

typedef struct acs_cwmp_command_key_req { /* Reboot, CancelTransfer */
  char *command_key;
} acs_cwmp_command_key_req;

typedef struct acs_cwmp_download {
  char *command_key, *file_type, *url, *username, *password;
  uint32_t file_size;
  char *target_file_name;
  uint32_t delay_seconds;
  char *success_url, *failure_url;
} acs_cwmp_download;

typedef struct acs_cwmp_transfer_response { /* Download, Upload */
  int status;
  char *start_time, *complete_time;
} acs_cwmp_transfer_response;

typedef struct acs_cwmp_upload {
  char *command_key, *file_type, *url, *username, *password;
  uint32_t delay_seconds;
} acs_cwmp_upload;

typedef struct acs_cwmp_schedule_inform {
  uint32_t delay_seconds;
  char *command_key;
} acs_cwmp_schedule_inform;

typedef struct acs_cwmp_schedule_download {
  char *command_key, *file_type, *url, *username, *password;
  uint32_t file_size;
  char *target_file_name;
  ACS_CWMP_ARRAY(acs_cwmp_time_window) time_windows;
} acs_cwmp_schedule_download;

typedef struct acs_cwmp_queued_transfers_response {
  ACS_CWMP_ARRAY(acs_cwmp_queued_transfer) transfers;
} acs_cwmp_queued_transfers_response;

typedef struct acs_cwmp_change_du_state {
  ACS_CWMP_ARRAY(acs_cwmp_du_op) operations;
  char *command_key;
} acs_cwmp_change_du_state;

typedef struct acs_cwmp_fault {
  char *faultcode;   /* SOAP faultcode: "Client" or "Server" (without prefix) */
  char *faultstring; /* SOAP faultstring: "CWMP fault" */
  uint32_t code;     /* cwmp:Fault FaultCode */
  char *string;      /* cwmp:Fault FaultString */
  ACS_CWMP_ARRAY(acs_cwmp_spv_fault) spv_faults;
} acs_cwmp_fault;

typedef struct acs_cwmp_msg {
  acs_cwmp_ns ns;
  /* SOAP header. NULL / false / 0 when absent. */
  char *id;
  bool id_must_understand; /* parse: as sent; encode: always "1" */
  bool has_hold_requests;
  bool hold_requests;
  bool no_more_requests; /* in no schema: accepted, never emitted */
  uint32_t session_timeout; /* CWMP 1.3+ */
  char *supported_cwmp_versions; /* "1.0,1.1,1.2,1.3,1.4" (CWMP 1.4) */
  char *use_cwmp_version;        /* "1.4" */

  acs_cwmp_kind kind;
  char *unknown_method; /* for ACS_CWMP_UNKNOWN: the Body element's local name */
  /* The body: the member named in ACS_CWMP_MESSAGES' third column (several
   * kinds share one: status_response, transfer_response, ...). */
  union {
    acs_cwmp_empty none;
    acs_cwmp_inform inform;
    acs_cwmp_inform_response inform_response;
    acs_cwmp_transfer_complete transfer_complete;
    acs_cwmp_autonomous_transfer_complete autonomous_transfer_complete;
    acs_cwmp_request_download request_download;
    acs_cwmp_du_state_change_complete du_state_change_complete;
    acs_cwmp_autonomous_du_state_change_complete autonomous_du_state_change_complete;
    acs_cwmp_kicked kicked;
    acs_cwmp_kicked_response kicked_response;
    acs_cwmp_get_rpc_methods_response get_rpc_methods_response;
    acs_cwmp_names_req get_parameter_values;
    acs_cwmp_gpv_response get_parameter_values_response;
    acs_cwmp_gpn get_parameter_names;
    acs_cwmp_gpn_response get_parameter_names_response;
    acs_cwmp_spv set_parameter_values;
    acs_cwmp_status_response status_response;
    acs_cwmp_names_req get_parameter_attributes;
    acs_cwmp_gpa_response get_parameter_attributes_response;
    acs_cwmp_spa set_parameter_attributes;
    acs_cwmp_object_req add_object;
    acs_cwmp_add_object_response add_object_response;
    acs_cwmp_object_req delete_object;
    acs_cwmp_command_key_req command_key_req;
    acs_cwmp_download download;
    acs_cwmp_transfer_response transfer_response;
    acs_cwmp_upload upload;
    acs_cwmp_schedule_inform schedule_inform;
    acs_cwmp_schedule_download schedule_download;
    acs_cwmp_queued_transfers_response queued_transfers_response;
    acs_cwmp_change_du_state change_du_state;
    acs_cwmp_fault fault;
  } u;
} acs_cwmp_msg;

/* Element name of a kind ("GetParameterValues"), "Fault", or NULL. */
const char *acs_cwmp_kind_name(acs_cwmp_kind k);
/* Kind from an element name; ACS_CWMP_UNKNOWN when not known. */
acs_cwmp_kind acs_cwmp_kind_from_name(const char *name);
/* The response kind of a request kind (INFORM -> INFORM_RESPONSE), or
 * ACS_CWMP_UNKNOWN when k is not a request. */
acs_cwmp_kind acs_cwmp_response_kind(acs_cwmp_kind k);
/* True for the requests a CPE sends to the ACS (Inform, TransferComplete,
 * ..., GetRPCMethods). */
bool acs_cwmp_is_cpe_request(acs_cwmp_kind k);

/* ---- parsing ---- */

typedef struct acs_cwmp_parse_limits {
  size_t max_bytes;    /* default 4 MiB */
  unsigned max_depth;  /* default 32 element levels */
  size_t max_elements; /* default 200,000 elements */
} acs_cwmp_parse_limits;

#define ACS_CWMP_PARSE_LIMITS_DEFAULT {4u << 20, 32, 200000}

typedef struct acs_cwmp_error {
  int code;       /* ACS_E* */
  int line;       /* input line of the problem, 0 when not known */
  char msg[256];  /* human-readable, NUL-terminated */
} acs_cwmp_error;

/* Parses one SOAP envelope. Returns 0 and fills *msg (all memory from arena),
 * or a negative ACS_E* code with a description in *err (err may be NULL).
 * limits may be NULL for the defaults. An empty or whitespace-only input is
 * not an envelope: callers treat an empty HTTP body themselves. */
int acs_cwmp_parse(const char *data, size_t len, acs_arena *arena, const acs_cwmp_parse_limits *limits,
                   acs_cwmp_msg *msg, acs_cwmp_error *err);

/* ---- encoding ---- */

/* Appends msg as a complete envelope to out. Returns 0, or ACS_EINVAL for a
 * kind that cannot be encoded (NONE, UNKNOWN), or ACS_ENOMEM. */
int acs_cwmp_encode(const acs_cwmp_msg *msg, acs_buf *out);

/* Convenience: a CWMP fault envelope (faultcode Client for 8003/9003-class
 * argument errors, Server otherwise; FaultString from acs_cwmp_fault_string()
 * when string is NULL). */
int acs_cwmp_encode_fault(acs_cwmp_ns ns, const char *id, uint32_t code, const char *string,
                          acs_buf *out);

/* Standard text of a CWMP fault code ("Method not supported"), or NULL. */
const char *acs_cwmp_fault_string(uint32_t code);

/* ---- helpers ---- */

/* Parses an xsd:dateTime as CPEs send it: with or without fractional
 * seconds and time zone (none = UTC). Sets *unknown for 0001-01-01T00:00:00Z
 * (the CPE does not know the time). Returns 0 or ACS_EINVAL. */
int acs_cwmp_time_parse(const char *s, int64_t *unix_seconds, bool *unknown);
/* Writes t as "YYYY-MM-DDThh:mm:ssZ" into buf (at least 21 bytes). */
void acs_cwmp_time_format(int64_t unix_seconds, char buf[static 21]);

/* Appends the device id of DESIGN.md's Contracts to out:
 * OUI-ProductClass-SerialNumber, or OUI-SerialNumber when product_class is
 * NULL or empty; in each part every byte outside [A-Za-z0-9_.~] is
 * percent-encoded (upper-case hex). Returns 0, ACS_EINVAL (no OUI or no
 * serial number) or ACS_ENOMEM. */
int acs_cwmp_device_id_format(const char *oui, const char *product_class, const char *serial,
                              acs_buf *out);

#endif
