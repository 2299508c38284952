"""The host daemon (job runner, health) and the intake Lambda. Kept import-free: the intake
Lambda imports ``scheduler_host.service.intake`` and must not pull in the solver."""
