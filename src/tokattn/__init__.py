"""tokattn: how the tokenizer changes what a language model attends to.

One package per stage of the workflow (rules/*.smk): `corpus`, `tokenizing`, `training`
(with the `byte_branch` model), `attention`, `evaluation` (with `tasks` and `metrics`),
`report` and `viewer`; `common` holds what several stages share and `cli` the `tokattn`
command. README.md, "Architecture", maps each to its rule file, tests and outputs.
"""

__version__ = "0.1.0"
