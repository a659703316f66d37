"""Draw each dialogue's state machine as a Mermaid diagram, for the README.

The diagram is read off the machine itself, so it cannot drift from the code; a test checks
that the README carries the current drawing (``steady diagrams`` prints it).
"""

from __future__ import annotations

from transitions import Machine


def mermaid(machine: Machine, title: str) -> str:
    """A Mermaid ``stateDiagram-v2`` of every transition in ``machine``."""
    lines = ["```mermaid", "---", f"title: {title}", "---", "stateDiagram-v2"]
    lines.append(f"    [*] --> {machine.initial}")
    seen: set[tuple[str, str | None, str]] = set()
    for name, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                edge = (source, transition.dest, name)
                if edge not in seen:
                    seen.add(edge)
                    guard = " ".join(
                        c.func.__name__.strip("_").replace("_", " ")
                        for c in transition.conditions
                        if callable(c.func)
                    )
                    label = f"{name} [{guard}]" if guard else name
                    lines.append(f"    {source} --> {transition.dest}: {label}")
    finals = [s for s in machine.states if not any(e[0] == s for e in seen)]
    lines.extend(f"    {state} --> [*]" for state in finals)
    lines.append("```")
    return "\n".join(lines)


def all_diagrams() -> str:
    """Every dialogue's diagram, in README order."""
    from dialogues.checkin import CHECKIN_SETTINGS, WEEKLY
    from dialogues.quick import QUICK
    from dialogues.reflection import REFLECTION

    return "\n\n".join(
        [
            mermaid(REFLECTION.machine, "/reflect"),
            mermaid(QUICK.machine, "/quick"),
            mermaid(CHECKIN_SETTINGS.machine, "/checkin (settings)"),
            mermaid(WEEKLY.machine, "weekly check-in"),
        ]
    )
