"""Stage `catalog`: the lake's tables registered for analysts (Glue/Athena, Trino)."""
