"""The Airflow Assets that chain the DAGs: each is announced by the task that writes it and
schedules the DAGs that read it, so a landed feed runs everything that depends on it.

ingest -> RAW -> privacy -> STAGE -> customer_model -> CUSTOMER_360 -> catalog
geo_offers (hourly) -> GEO_EVENTS -> geo-triggered campaigns; daily campaigns (cron)
campaigns -> OFFERS -> delivery -> NOTIFICATIONS -> effectiveness -> KPIS -> catalog -> CATALOG
"""

from __future__ import annotations

from airflow.sdk import Asset

RAW = Asset("offerlake_raw")
STAGE = Asset("offerlake_stage")
CUSTOMER_360 = Asset("offerlake_customer_360")
GEO_EVENTS = Asset("offerlake_geo_events")
OFFERS = Asset("offerlake_deliverable_offers")
NOTIFICATIONS = Asset("offerlake_notifications")
KPIS = Asset("offerlake_kpis")
CATALOG = Asset("offerlake_catalog")
