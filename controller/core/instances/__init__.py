"""Instances: the one mechanism behind EC2's Instance and Auto Scaling groups' instances.

An instance is one container. Here are its vocabulary and the state derived from it
(`instance`), the pool's observed instances (`observed`), the tracker of launches and starts not
yet observed (`tracker`), the executor that carries fleet plans out, the only writer of
instance containers and records (`fleet`), launch template versions and how a reference selects
one (`versions`, `templates`), and the manifest checks both kinds share (`references`).
It imports no AWS service: EC2 and Auto Scaling both import it, never each other. EC2 keeps
its own kinds (LaunchTemplate, Instance), their planners and syncs, and registers the tracker
as its part of the controller.
"""
