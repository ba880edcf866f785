"""AWS Lambda entry points: the management API (`handlers.api`) and the scheduled upkeep (`handlers.scheduled`)."""
