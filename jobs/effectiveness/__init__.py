"""Effectiveness: which notifications led to a purchase or an acceptance, and KPIs with lift."""
