/* secret_values.c: how the API renders the values of secret parameters
 * (core/acs_secret_param.h; docs/api.md, "Secret parameters"). The value
 * stays stored (policies and connection requests use it); every answer that
 * carries parameter values passes through here, and shows a secret's value
 * as null, flagged "secret": true, to every role. */
#include <string.h>

#include "api/api_internal.h"
#include "core/acs_secret_param.h"

int acs__api_param_render(json_t *param, const char *name, size_t n) {
  if (!json_is_object(param)) return 0;
  bool secret = acs_param_is_secret(name, n);
  if (secret && json_object_set_new(param, "value", json_null())) return -1;
  return json_object_set_new(param, "secret", json_boolean(secret));
}

int acs__api_params_render(json_t *params) {
  const char *name;
  json_t *v;
  if (!json_is_object(params)) return 0;
  json_object_foreach(params, name, v) {
    if (acs__api_param_render(v, name, strlen(name))) return -1;
  }
  return 0;
}

/* CWMP structures as JSON (acs_rpc_json.h): a ParameterValueStruct is an
 * object with "Name" and "Value"; transfers carry "Password". */
void acs__api_rpc_json_render(json_t *v) {
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++) acs__api_rpc_json_render(json_array_get(v, i));
    return;
  }
  if (!json_is_object(v)) return;
  json_t *name = json_object_get(v, "Name");
  if (json_is_string(name) && json_object_get(v, "Value") &&
      acs_param_is_secret(json_string_value(name), json_string_length(name)))
    json_object_set_new(v, "Value", json_null());
  json_t *pw = json_object_get(v, "Password");
  if (pw && !json_is_null(pw) && !json_is_object(pw) && !json_is_array(pw))
    json_object_set_new(v, "Password", json_null());
  const char *key;
  json_t *child;
  json_object_foreach(v, key, child) {
    if (json_is_object(child) || json_is_array(child)) acs__api_rpc_json_render(child);
  }
}
