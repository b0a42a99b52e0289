# `make apply WORKSPACE=local`: the local runtime's emulator (moto on :4566, `make run`) or LocalStack.
region           = "us-east-1"
aws_endpoint_url = "http://127.0.0.1:4566"

# Throwaway: the emulator forgets everything on restart anyway.
deletion_protection      = false
kms_deletion_window_days = 7
log_retention_days       = 1

# The mapping is created: `make run ARGS=--from-terraform` reads its settings back and runs it (the local
# runtime's moto never invokes a function from a stream itself, so the stream is left to its pump).
create_event_source_mapping = true

# Resource policies break moto's reads of the API; the account settings are harmless there.
api_resource_policy_account_ids = []
manage_api_gateway_account      = true
