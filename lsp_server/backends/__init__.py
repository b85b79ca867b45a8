"""What generates text for the completion service: the in-process model (`local`,
`engine`, `sessions`) or a remote inference server (`remote/`), behind the one interface
of `base.Backend`; `open.open_backend` picks one."""
