"""The AML language: the task tree (:mod:`.nodes`), the block grammar the registry supplies
(:mod:`.grammar`) and the parser that reads task text into a tree (:mod:`.parser`)."""
