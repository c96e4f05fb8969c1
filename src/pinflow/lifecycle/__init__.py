"""Pure decisions: version lifecycle, run and task state machines, the re-bind/drift plan.

Nothing here touches a database: each rule is a function of a snapshot of state that returns
a decision as data. Services lock rows, ask the rules, then write.
"""
