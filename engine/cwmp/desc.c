/* desc.c: the CWMP message and struct descriptions, after the official
 * cwmp-1-0 .. cwmp-1-4 schemas (element names and sequence order). */
#include <stdbool.h>
#include <string.h>

#include "cwmp/cwmp_internal.h"

#define FLD(el, k, T, m) {el, ACS__FK_##k, offsetof(T, m), 0, NULL, NULL, NULL}
#define STRUCT(el, T, m, d) {el, ACS__FK_STRUCT, offsetof(T, m), 0, &(d), NULL, NULL}
#define VALUE(el, T, m, mt) {el, ACS__FK_VALUE, offsetof(T, m), offsetof(T, mt), NULL, NULL, NULL}
#define ARRAY(el, T, m, d, item, at) {el, ACS__FK_ARRAY, offsetof(T, m), 0, &(d), item, at}
#define STRINGS(el, T, m) {el, ACS__FK_ARRAY, offsetof(T, m), 0, NULL, "string", "xsd:string"}
#define REPEAT(el, T, m, d) {el, ACS__FK_REPEAT, offsetof(T, m), 0, &(d), NULL, NULL}
#define NFIELDS(a) ((uint16_t)(sizeof(a) / sizeof((a)[0])))
#define DESC(var, elname, T, arr) \
  static const acs__cwmp_struct var = {elname, sizeof(T), NFIELDS(arr), arr}

/* ---- shared structs ---- */

static const acs__cwmp_field f_device_id[] = {
    FLD("Manufacturer", STR, acs_cwmp_device_id, manufacturer),
    FLD("OUI", STR, acs_cwmp_device_id, oui),
    FLD("ProductClass", STR, acs_cwmp_device_id, product_class),
    FLD("SerialNumber", STR, acs_cwmp_device_id, serial_number),
};
DESC(d_device_id, "DeviceIdStruct", acs_cwmp_device_id, f_device_id);

static const acs__cwmp_field f_event[] = {
    FLD("EventCode", STR, acs_cwmp_event, code),
    FLD("CommandKey", STR, acs_cwmp_event, command_key),
};
DESC(d_event, "EventStruct", acs_cwmp_event, f_event);

static const acs__cwmp_field f_pvs[] = {
    FLD("Name", STR, acs_cwmp_param_value, name),
    VALUE("Value", acs_cwmp_param_value, value, type),
};
DESC(d_pvs, "ParameterValueStruct", acs_cwmp_param_value, f_pvs);

static const acs__cwmp_field f_pinfo[] = {
    FLD("Name", STR, acs_cwmp_param_info, name),
    FLD("Writable", BOOL, acs_cwmp_param_info, writable),
};
DESC(d_pinfo, "ParameterInfoStruct", acs_cwmp_param_info, f_pinfo);

static const acs__cwmp_field f_set_attr[] = {
    FLD("Name", STR, acs_cwmp_set_attr, name),
    FLD("NotificationChange", BOOL, acs_cwmp_set_attr, notification_change),
    FLD("Notification", INT, acs_cwmp_set_attr, notification),
    FLD("AccessListChange", BOOL, acs_cwmp_set_attr, access_list_change),
    STRINGS("AccessList", acs_cwmp_set_attr, access_list),
};
DESC(d_set_attr, "SetParameterAttributesStruct", acs_cwmp_set_attr, f_set_attr);

static const acs__cwmp_field f_param_attr[] = {
    FLD("Name", STR, acs_cwmp_param_attr, name),
    FLD("Notification", INT, acs_cwmp_param_attr, notification),
    STRINGS("AccessList", acs_cwmp_param_attr, access_list),
};
DESC(d_param_attr, "ParameterAttributeStruct", acs_cwmp_param_attr, f_param_attr);

static const acs__cwmp_field f_fault_struct[] = {
    FLD("FaultCode", UINT, acs_cwmp_fault_struct, code),
    FLD("FaultString", STR, acs_cwmp_fault_struct, string),
};
DESC(d_fault_struct, "FaultStruct", acs_cwmp_fault_struct, f_fault_struct);

static const acs__cwmp_field f_time_window[] = {
    FLD("WindowStart", UINT, acs_cwmp_time_window, window_start),
    FLD("WindowEnd", UINT, acs_cwmp_time_window, window_end),
    FLD("WindowMode", STR, acs_cwmp_time_window, window_mode),
    FLD("UserMessage", STR, acs_cwmp_time_window, user_message),
    FLD("MaxRetries", INT, acs_cwmp_time_window, max_retries),
};
DESC(d_time_window, "TimeWindowStruct", acs_cwmp_time_window, f_time_window);

static const acs__cwmp_field f_queued[] = {
    FLD("CommandKey", STR, acs_cwmp_queued_transfer, command_key),
    FLD("State", INT, acs_cwmp_queued_transfer, state),
};
DESC(d_queued, "QueuedTransferStruct", acs_cwmp_queued_transfer, f_queued);

static const acs__cwmp_field f_all_queued[] = {
    FLD("CommandKey", STR, acs_cwmp_queued_transfer, command_key),
    FLD("State", INT, acs_cwmp_queued_transfer, state),
    FLD("IsDownload", BOOL, acs_cwmp_queued_transfer, is_download),
    FLD("FileType", STR, acs_cwmp_queued_transfer, file_type),
    FLD("FileSize", UINT, acs_cwmp_queued_transfer, file_size),
    FLD("TargetFileName", STR, acs_cwmp_queued_transfer, target_file_name),
};
DESC(d_all_queued, "AllQueuedTransferStruct", acs_cwmp_queued_transfer, f_all_queued);

static const acs__cwmp_field f_arg[] = {
    FLD("Name", STR, acs_cwmp_arg, name),
    FLD("Value", STR, acs_cwmp_arg, value),
};
DESC(d_arg, "ArgStruct", acs_cwmp_arg, f_arg);

#define DU_RESULT_FIELDS                                                  \
  FLD("UUID", STR, acs_cwmp_du_result, uuid),                             \
      FLD("DeploymentUnitRef", STR, acs_cwmp_du_result, deployment_unit_ref), \
      FLD("Version", STR, acs_cwmp_du_result, version),                   \
      FLD("CurrentState", STR, acs_cwmp_du_result, current_state),        \
      FLD("Resolved", BOOL, acs_cwmp_du_result, resolved),                \
      FLD("ExecutionUnitRefList", STR, acs_cwmp_du_result, execution_unit_ref_list), \
      FLD("StartTime", TIME, acs_cwmp_du_result, start_time),             \
      FLD("CompleteTime", TIME, acs_cwmp_du_result, complete_time),       \
      STRUCT("Fault", acs_cwmp_du_result, fault, d_fault_struct)

static const acs__cwmp_field f_du_result[] = {DU_RESULT_FIELDS};
DESC(d_du_result, "OpResultStruct", acs_cwmp_du_result, f_du_result);
static const acs__cwmp_field f_auton_du_result[] = {
    DU_RESULT_FIELDS,
    FLD("OperationPerformed", STR, acs_cwmp_du_result, operation_performed),
};
DESC(d_auton_du_result, "AutonOpResultStruct", acs_cwmp_du_result, f_auton_du_result);

/* ChangeDUState operations: optional elements are omitted when NULL. */
static const acs__cwmp_field f_install_op[] = {
    FLD("URL", STR, acs_cwmp_du_op, url),
    FLD("UUID", OSTR, acs_cwmp_du_op, uuid),
    FLD("Username", OSTR, acs_cwmp_du_op, username),
    FLD("Password", OSTR, acs_cwmp_du_op, password),
    FLD("ExecutionEnvRef", OSTR, acs_cwmp_du_op, execution_env_ref),
};
DESC(d_install_op, "InstallOpStruct", acs_cwmp_du_op, f_install_op);
static const acs__cwmp_field f_update_op[] = {
    FLD("UUID", OSTR, acs_cwmp_du_op, uuid),
    FLD("Version", OSTR, acs_cwmp_du_op, version),
    FLD("URL", OSTR, acs_cwmp_du_op, url),
    FLD("Username", OSTR, acs_cwmp_du_op, username),
    FLD("Password", OSTR, acs_cwmp_du_op, password),
};
DESC(d_update_op, "UpdateOpStruct", acs_cwmp_du_op, f_update_op);
static const acs__cwmp_field f_uninstall_op[] = {
    FLD("UUID", STR, acs_cwmp_du_op, uuid),
    FLD("Version", OSTR, acs_cwmp_du_op, version),
    FLD("ExecutionEnvRef", OSTR, acs_cwmp_du_op, execution_env_ref),
};
DESC(d_uninstall_op, "UninstallOpStruct", acs_cwmp_du_op, f_uninstall_op);

const acs__cwmp_struct *const acs__cwmp_du_ops[3] = {&d_install_op, &d_update_op,
                                                     &d_uninstall_op};
const char *const acs__cwmp_du_op_names[3] = {"InstallOpStruct", "UpdateOpStruct",
                                              "UninstallOpStruct"};

static const acs__cwmp_field f_spv_fault[] = {
    FLD("ParameterName", STR, acs_cwmp_spv_fault, parameter_name),
    FLD("FaultCode", UINT, acs_cwmp_spv_fault, code),
    FLD("FaultString", STR, acs_cwmp_spv_fault, string),
};
const acs__cwmp_struct acs__cwmp_spv_fault_desc = {"SetParameterValuesFault",
                                                   sizeof(acs_cwmp_spv_fault),
                                                   NFIELDS(f_spv_fault), f_spv_fault};

/* ---- message bodies ---- */

static const acs__cwmp_struct d_empty = {"", sizeof(acs_cwmp_empty), 0, NULL};

static const acs__cwmp_field f_inform[] = {
    STRUCT("DeviceId", acs_cwmp_inform, device_id, d_device_id),
    ARRAY("Event", acs_cwmp_inform, events, d_event, "EventStruct", "cwmp:EventStruct"),
    FLD("MaxEnvelopes", UINT, acs_cwmp_inform, max_envelopes),
    FLD("CurrentTime", TIME, acs_cwmp_inform, current_time),
    FLD("RetryCount", UINT, acs_cwmp_inform, retry_count),
    ARRAY("ParameterList", acs_cwmp_inform, params, d_pvs, "ParameterValueStruct",
          "cwmp:ParameterValueStruct"),
};
DESC(d_inform, "Inform", acs_cwmp_inform, f_inform);

static const acs__cwmp_field f_inform_response[] = {
    FLD("MaxEnvelopes", UINT, acs_cwmp_inform_response, max_envelopes),
};
DESC(d_inform_response, "InformResponse", acs_cwmp_inform_response, f_inform_response);

static const acs__cwmp_field f_transfer_complete[] = {
    FLD("CommandKey", STR, acs_cwmp_transfer_complete, command_key),
    STRUCT("FaultStruct", acs_cwmp_transfer_complete, fault, d_fault_struct),
    FLD("StartTime", TIME, acs_cwmp_transfer_complete, start_time),
    FLD("CompleteTime", TIME, acs_cwmp_transfer_complete, complete_time),
};
DESC(d_transfer_complete, "TransferComplete", acs_cwmp_transfer_complete, f_transfer_complete);

#define ATC acs_cwmp_autonomous_transfer_complete
static const acs__cwmp_field f_atc[] = {
    FLD("AnnounceURL", STR, ATC, announce_url),
    FLD("TransferURL", STR, ATC, transfer_url),
    FLD("IsDownload", BOOL, ATC, is_download),
    FLD("FileType", STR, ATC, file_type),
    FLD("FileSize", UINT, ATC, file_size),
    FLD("TargetFileName", STR, ATC, target_file_name),
    STRUCT("FaultStruct", ATC, fault, d_fault_struct),
    FLD("StartTime", TIME, ATC, start_time),
    FLD("CompleteTime", TIME, ATC, complete_time),
};
DESC(d_atc, "AutonomousTransferComplete", ATC, f_atc);
#undef ATC

static const acs__cwmp_field f_request_download[] = {
    FLD("FileType", STR, acs_cwmp_request_download, file_type),
    ARRAY("FileTypeArg", acs_cwmp_request_download, args, d_arg, "ArgStruct", "cwmp:ArgStruct"),
};
DESC(d_request_download, "RequestDownload", acs_cwmp_request_download, f_request_download);

static const acs__cwmp_field f_dscc[] = {
    REPEAT("Results", acs_cwmp_du_state_change_complete, results, d_du_result),
    FLD("CommandKey", STR, acs_cwmp_du_state_change_complete, command_key),
};
DESC(d_dscc, "DUStateChangeComplete", acs_cwmp_du_state_change_complete, f_dscc);

static const acs__cwmp_field f_adscc[] = {
    REPEAT("Results", acs_cwmp_autonomous_du_state_change_complete, results, d_auton_du_result),
};
DESC(d_adscc, "AutonomousDUStateChangeComplete", acs_cwmp_autonomous_du_state_change_complete,
     f_adscc);

static const acs__cwmp_field f_kicked[] = {
    FLD("Command", STR, acs_cwmp_kicked, command),
    FLD("Referer", STR, acs_cwmp_kicked, referer),
    FLD("Arg", STR, acs_cwmp_kicked, arg),
    FLD("Next", STR, acs_cwmp_kicked, next),
};
DESC(d_kicked, "Kicked", acs_cwmp_kicked, f_kicked);

static const acs__cwmp_field f_kicked_response[] = {
    FLD("NextURL", STR, acs_cwmp_kicked_response, next_url),
};
DESC(d_kicked_response, "KickedResponse", acs_cwmp_kicked_response, f_kicked_response);

static const acs__cwmp_field f_grm_response[] = {
    STRINGS("MethodList", acs_cwmp_get_rpc_methods_response, methods),
};
DESC(d_grm_response, "GetRPCMethodsResponse", acs_cwmp_get_rpc_methods_response, f_grm_response);

static const acs__cwmp_field f_names_req[] = {
    STRINGS("ParameterNames", acs_cwmp_names_req, names),
};
DESC(d_names_req, "ParameterNames", acs_cwmp_names_req, f_names_req);

static const acs__cwmp_field f_gpv_response[] = {
    ARRAY("ParameterList", acs_cwmp_gpv_response, params, d_pvs, "ParameterValueStruct",
          "cwmp:ParameterValueStruct"),
};
DESC(d_gpv_response, "GetParameterValuesResponse", acs_cwmp_gpv_response, f_gpv_response);

static const acs__cwmp_field f_gpn[] = {
    FLD("ParameterPath", STR, acs_cwmp_gpn, parameter_path),
    FLD("NextLevel", BOOL, acs_cwmp_gpn, next_level),
};
DESC(d_gpn, "GetParameterNames", acs_cwmp_gpn, f_gpn);

static const acs__cwmp_field f_gpn_response[] = {
    ARRAY("ParameterList", acs_cwmp_gpn_response, params, d_pinfo, "ParameterInfoStruct",
          "cwmp:ParameterInfoStruct"),
};
DESC(d_gpn_response, "GetParameterNamesResponse", acs_cwmp_gpn_response, f_gpn_response);

static const acs__cwmp_field f_spv[] = {
    ARRAY("ParameterList", acs_cwmp_spv, params, d_pvs, "ParameterValueStruct",
          "cwmp:ParameterValueStruct"),
    FLD("ParameterKey", STR, acs_cwmp_spv, parameter_key),
};
DESC(d_spv, "SetParameterValues", acs_cwmp_spv, f_spv);

static const acs__cwmp_field f_status_response[] = {
    FLD("Status", INT, acs_cwmp_status_response, status),
};
DESC(d_status_response, "Status", acs_cwmp_status_response, f_status_response);

static const acs__cwmp_field f_gpa_response[] = {
    ARRAY("ParameterList", acs_cwmp_gpa_response, params, d_param_attr, "ParameterAttributeStruct",
          "cwmp:ParameterAttributeStruct"),
};
DESC(d_gpa_response, "GetParameterAttributesResponse", acs_cwmp_gpa_response, f_gpa_response);

static const acs__cwmp_field f_spa[] = {
    ARRAY("ParameterList", acs_cwmp_spa, params, d_set_attr, "SetParameterAttributesStruct",
          "cwmp:SetParameterAttributesStruct"),
};
DESC(d_spa, "SetParameterAttributes", acs_cwmp_spa, f_spa);

static const acs__cwmp_field f_object_req[] = {
    FLD("ObjectName", STR, acs_cwmp_object_req, object_name),
    FLD("ParameterKey", STR, acs_cwmp_object_req, parameter_key),
};
DESC(d_object_req, "ObjectRequest", acs_cwmp_object_req, f_object_req);

static const acs__cwmp_field f_add_object_response[] = {
    FLD("InstanceNumber", UINT, acs_cwmp_add_object_response, instance_number),
    FLD("Status", INT, acs_cwmp_add_object_response, status),
};
DESC(d_add_object_response, "AddObjectResponse", acs_cwmp_add_object_response,
     f_add_object_response);

static const acs__cwmp_field f_command_key_req[] = {
    FLD("CommandKey", STR, acs_cwmp_command_key_req, command_key),
};
DESC(d_command_key_req, "CommandKeyRequest", acs_cwmp_command_key_req, f_command_key_req);

static const acs__cwmp_field f_download[] = {
    FLD("CommandKey", STR, acs_cwmp_download, command_key),
    FLD("FileType", STR, acs_cwmp_download, file_type),
    FLD("URL", STR, acs_cwmp_download, url),
    FLD("Username", STR, acs_cwmp_download, username),
    FLD("Password", STR, acs_cwmp_download, password),
    FLD("FileSize", UINT, acs_cwmp_download, file_size),
    FLD("TargetFileName", STR, acs_cwmp_download, target_file_name),
    FLD("DelaySeconds", UINT, acs_cwmp_download, delay_seconds),
    FLD("SuccessURL", STR, acs_cwmp_download, success_url),
    FLD("FailureURL", STR, acs_cwmp_download, failure_url),
};
DESC(d_download, "Download", acs_cwmp_download, f_download);

static const acs__cwmp_field f_transfer_response[] = {
    FLD("Status", INT, acs_cwmp_transfer_response, status),
    FLD("StartTime", TIME, acs_cwmp_transfer_response, start_time),
    FLD("CompleteTime", TIME, acs_cwmp_transfer_response, complete_time),
};
DESC(d_transfer_response, "TransferResponse", acs_cwmp_transfer_response, f_transfer_response);

static const acs__cwmp_field f_upload[] = {
    FLD("CommandKey", STR, acs_cwmp_upload, command_key),
    FLD("FileType", STR, acs_cwmp_upload, file_type),
    FLD("URL", STR, acs_cwmp_upload, url),
    FLD("Username", STR, acs_cwmp_upload, username),
    FLD("Password", STR, acs_cwmp_upload, password),
    FLD("DelaySeconds", UINT, acs_cwmp_upload, delay_seconds),
};
DESC(d_upload, "Upload", acs_cwmp_upload, f_upload);

static const acs__cwmp_field f_schedule_inform[] = {
    FLD("DelaySeconds", UINT, acs_cwmp_schedule_inform, delay_seconds),
    FLD("CommandKey", STR, acs_cwmp_schedule_inform, command_key),
};
DESC(d_schedule_inform, "ScheduleInform", acs_cwmp_schedule_inform, f_schedule_inform);

static const acs__cwmp_field f_schedule_download[] = {
    FLD("CommandKey", STR, acs_cwmp_schedule_download, command_key),
    FLD("FileType", STR, acs_cwmp_schedule_download, file_type),
    FLD("URL", STR, acs_cwmp_schedule_download, url),
    FLD("Username", STR, acs_cwmp_schedule_download, username),
    FLD("Password", STR, acs_cwmp_schedule_download, password),
    FLD("FileSize", UINT, acs_cwmp_schedule_download, file_size),
    FLD("TargetFileName", STR, acs_cwmp_schedule_download, target_file_name),
    ARRAY("TimeWindowList", acs_cwmp_schedule_download, time_windows, d_time_window,
          "TimeWindowStruct", "cwmp:TimeWindowStruct"),
};
DESC(d_schedule_download, "ScheduleDownload", acs_cwmp_schedule_download, f_schedule_download);

static const acs__cwmp_field f_gqt_response[] = {
    ARRAY("TransferList", acs_cwmp_queued_transfers_response, transfers, d_queued,
          "QueuedTransferStruct", "cwmp:QueuedTransferStruct"),
};
DESC(d_gqt_response, "GetQueuedTransfersResponse", acs_cwmp_queued_transfers_response,
     f_gqt_response);

static const acs__cwmp_field f_gaqt_response[] = {
    ARRAY("TransferList", acs_cwmp_queued_transfers_response, transfers, d_all_queued,
          "AllQueuedTransferStruct", "cwmp:AllQueuedTransferStruct"),
};
DESC(d_gaqt_response, "GetAllQueuedTransfersResponse", acs_cwmp_queued_transfers_response,
     f_gaqt_response);

static const acs__cwmp_field f_change_du_state[] = {
    {"Operations", ACS__FK_DUOPS, offsetof(acs_cwmp_change_du_state, operations), 0, NULL, NULL,
     NULL},
    FLD("CommandKey", STR, acs_cwmp_change_du_state, command_key),
};
DESC(d_change_du_state, "ChangeDUState", acs_cwmp_change_du_state, f_change_du_state);

const acs__cwmp_struct *const acs__cwmp_bodies[ACS_CWMP_KIND_COUNT] = {
    [ACS_CWMP_INFORM] = &d_inform,
    [ACS_CWMP_INFORM_RESPONSE] = &d_inform_response,
    [ACS_CWMP_TRANSFER_COMPLETE] = &d_transfer_complete,
    [ACS_CWMP_TRANSFER_COMPLETE_RESPONSE] = &d_empty,
    [ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE] = &d_atc,
    [ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE_RESPONSE] = &d_empty,
    [ACS_CWMP_REQUEST_DOWNLOAD] = &d_request_download,
    [ACS_CWMP_REQUEST_DOWNLOAD_RESPONSE] = &d_empty,
    [ACS_CWMP_DU_STATE_CHANGE_COMPLETE] = &d_dscc,
    [ACS_CWMP_DU_STATE_CHANGE_COMPLETE_RESPONSE] = &d_empty,
    [ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE] = &d_adscc,
    [ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE_RESPONSE] = &d_empty,
    [ACS_CWMP_KICKED] = &d_kicked,
    [ACS_CWMP_KICKED_RESPONSE] = &d_kicked_response,
    [ACS_CWMP_GET_RPC_METHODS] = &d_empty,
    [ACS_CWMP_GET_RPC_METHODS_RESPONSE] = &d_grm_response,
    [ACS_CWMP_GET_PARAMETER_VALUES] = &d_names_req,
    [ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE] = &d_gpv_response,
    [ACS_CWMP_GET_PARAMETER_NAMES] = &d_gpn,
    [ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE] = &d_gpn_response,
    [ACS_CWMP_SET_PARAMETER_VALUES] = &d_spv,
    [ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE] = &d_status_response,
    [ACS_CWMP_GET_PARAMETER_ATTRIBUTES] = &d_names_req,
    [ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE] = &d_gpa_response,
    [ACS_CWMP_SET_PARAMETER_ATTRIBUTES] = &d_spa,
    [ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE] = &d_empty,
    [ACS_CWMP_ADD_OBJECT] = &d_object_req,
    [ACS_CWMP_ADD_OBJECT_RESPONSE] = &d_add_object_response,
    [ACS_CWMP_DELETE_OBJECT] = &d_object_req,
    [ACS_CWMP_DELETE_OBJECT_RESPONSE] = &d_status_response,
    [ACS_CWMP_REBOOT] = &d_command_key_req,
    [ACS_CWMP_REBOOT_RESPONSE] = &d_empty,
    [ACS_CWMP_FACTORY_RESET] = &d_empty,
    [ACS_CWMP_FACTORY_RESET_RESPONSE] = &d_empty,
    [ACS_CWMP_DOWNLOAD] = &d_download,
    [ACS_CWMP_DOWNLOAD_RESPONSE] = &d_transfer_response,
    [ACS_CWMP_UPLOAD] = &d_upload,
    [ACS_CWMP_UPLOAD_RESPONSE] = &d_transfer_response,
    [ACS_CWMP_SCHEDULE_INFORM] = &d_schedule_inform,
    [ACS_CWMP_SCHEDULE_INFORM_RESPONSE] = &d_empty,
    [ACS_CWMP_SCHEDULE_DOWNLOAD] = &d_schedule_download,
    [ACS_CWMP_SCHEDULE_DOWNLOAD_RESPONSE] = &d_empty,
    [ACS_CWMP_CANCEL_TRANSFER] = &d_command_key_req,
    [ACS_CWMP_CANCEL_TRANSFER_RESPONSE] = &d_empty,
    [ACS_CWMP_GET_QUEUED_TRANSFERS] = &d_empty,
    [ACS_CWMP_GET_QUEUED_TRANSFERS_RESPONSE] = &d_gqt_response,
    [ACS_CWMP_GET_ALL_QUEUED_TRANSFERS] = &d_empty,
    [ACS_CWMP_GET_ALL_QUEUED_TRANSFERS_RESPONSE] = &d_gaqt_response,
    [ACS_CWMP_CHANGE_DU_STATE] = &d_change_du_state,
    [ACS_CWMP_CHANGE_DU_STATE_RESPONSE] = &d_empty,
};
