# `make plan|apply WORKSPACE=staging`: the staging account (credentials from the environment or
# AWS_PROFILE; the provider refuses any other account). State: backend/staging.s3.tfbackend.
environment         = "staging"
allowed_account_ids = ["222222222222"]
region              = "eu-west-1"

deletion_protection = true
log_retention_days  = 30

# The API Gateway CloudWatch role is one setting per account and region. Staging has its own account,
# so it owns the setting there; a workspace sharing an account and region with another sets false.
manage_api_gateway_account = true

alarm_email = ""

# Removed events are archived to S3 first (archive.tf); `eventstore archive read` reads them back.
archive_enabled = true
