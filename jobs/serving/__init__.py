"""Profiles served by key: a slice of customer_360 and segments in DynamoDB (conf/serving.yaml)."""
