"""Workloads: scenario files, the actors that allocate, and the simulated clock.

Not a kernel file: the wing that drives the model the way a running system
would (see scenario.py for the file format, actors.py for what each actor
allocates and why, clock.py for how simulated time drives the kernel's
daemons, simulation.py for a whole run).
"""
from __future__ import annotations

from .scenario import Scenario, ScenarioError, load_scenario, loads_scenario
from .simulation import Simulation, boot_machine

__all__ = ["Scenario", "ScenarioError", "load_scenario", "loads_scenario", "Simulation",
           "boot_machine"]
