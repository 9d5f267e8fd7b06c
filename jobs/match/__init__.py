"""Matching: campaigns (conf/campaigns/*.offer) x customer_360 -> deliverable_offers."""
