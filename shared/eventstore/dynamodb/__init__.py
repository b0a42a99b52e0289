"""The EventStore and NotificationCursor on one DynamoDB table (docs/design.md, "Module map")."""
