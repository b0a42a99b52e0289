# `make apply WORKSPACE=staging`: a real AWS account (credentials from the environment or AWS_PROFILE).
region = "eu-west-1"

deletion_protection = true
log_retention_days  = 30

# One workspace per account and region owns the API Gateway CloudWatch role; set false in the others.
manage_api_gateway_account = true

alarm_email = ""
