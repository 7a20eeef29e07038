"""The REST API (django-ninja): species, assessments, findings, buckets, sites, events, commitments."""
