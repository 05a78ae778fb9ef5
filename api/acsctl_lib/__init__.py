"""The modules of acsctl (api/acsctl): base (client, output), devices, policies,
admin (system, alarms, bulk, tokens, audit) and cli (parser, main)."""
