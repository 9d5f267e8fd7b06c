"""Geofencing: stage pings x ally geofences (Apache Sedona) -> analytics/geo_events."""
