"""Checks behind scripts/check-infra (the offline infrastructure gate). Run by that script, with the
interpreter of target/infra-tools/bicep (pycep-parser and PyYAML pinned in requirements-bicep.txt);
the `checkov-report` subcommand needs the standard library only.

  infra_check.py parse ROOT                 every *.bicep under ROOT/infra parses (pycep-parser)
  infra_check.py structure ROOT             modules and imports exist and get the params they declare,
                                            main.parameters.json matches main.bicep's params, targetScope is
                                            'subscription', azure.yaml names existing paths
  infra_check.py matrix ROOT                main.bicep under each parameter set (azd's defaults, infra/matrix/*): the
                                            values fit its params; no use of an optional part a set leaves out; each
                                            optional part the sets decide is tried deployed and left out
  infra_check.py compose-builds ROOT        build contexts and Dockerfiles named by docker-compose.yml exist
  infra_check.py checkov-config ROOT        .checkov.yaml does not choose the scanned files itself
  infra_check.py unconditional ROOT         (on a copy) blanks out every deploy condition, for checkov
  infra_check.py checkov-report JSON ROOT   checkov's -o json output: no failed check and no file it could not parse
  infra_check.py mutate CASE ROOT           the self-test's breakages (see scripts/check-infra --self-test)

Every problem is printed as one line, `path: problem`, with the path relative to ROOT; the exit status is 1 when
there is any, 2 when the check itself could not run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

problems: list[str] = []
closing: list[str] = []  # printed after the problems


def problem(path: Path | str, message: str) -> None:
    problems.append(f"{path}: {message}")


def rel(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def bicep_files(root: Path) -> list[Path]:
    return sorted((root / "infra").rglob("*.bicep")) if (root / "infra").is_dir() else []


# --- Bicep, through pycep-parser's Lark grammar ------------------------------------------------------------------


class Parsed:
    """One .bicep file: its Lark tree (for positions and what the JSON form drops, such as a param's `?`) and
    pycep's JSON form of it (modules, imports)."""

    def __init__(self, path: Path, text: str, tree, data: dict):
        self.path, self.text, self.tree, self.data = path, text, tree, data


_parser = None


def parse_bicep(path: Path) -> Parsed:
    """Parses like pycep's BicepParser.parse, keeping the tree too. Raises on a syntax error."""
    global _parser
    from pycep import BicepParser
    from pycep.transformer import BicepToJson
    from pycep.validator import BicepValidator

    if _parser is None:
        _parser = BicepParser()
    text = path.read_text(encoding="utf-8")
    if not BicepValidator.is_valid(text):
        raise SyntaxError("a ''' multi-line string is not closed")
    tree = _parser.lark_parser.parse(text)
    data = BicepToJson(add_line_numbers=False).transform(tree)
    return Parsed(path, text, tree, data)


def describe_parse_error(error: Exception) -> str:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(error, UnexpectedToken):
        expected = ", ".join(sorted(error.expected)[:6])
        token = "end of file" if error.token.type == "$END" else repr(str(error.token))
        return f"{error.line}:{error.column}: does not parse: unexpected {token} (expected one of: {expected})"
    if isinstance(error, UnexpectedCharacters):
        return f"{error.line}:{error.column}: does not parse: unexpected character {error.char!r}"
    if isinstance(error, UnexpectedEOF):
        return "does not parse: unexpected end of file"
    if isinstance(error, SyntaxError):
        return f"does not parse: {error}"
    return f"pycep-parser fails on it: {type(error).__name__}: {error}"


def cmd_parse(root: Path) -> None:
    files = bicep_files(root)
    if not files:
        problem("infra", "no *.bicep file found")
    for path in files:
        try:
            parse_bicep(path)
        except Exception as error:  # any pycep/Lark failure is this file's problem
            message = describe_parse_error(error)
            problems.append(f"{rel(root, path)}:{'' if message[0].isdigit() else ' '}{message}")
    if not problems:
        print(f"{len(files)} Bicep file(s) parse (pycep-parser)")


def tree_elements(tree, kind: str):
    return [child for child in tree.children if getattr(child, "data", None) == kind]


def unquote(token) -> str:
    value = str(token)
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def azd_generates(parsed: Parsed, name: str) -> bool:
    """Whether the param carries @metadata({ azd: { type: 'generate' ... } }): azd makes up its value (once, kept in
    the azd environment) when main.parameters.json gives none."""
    spec = (parsed.data.get("parameters") or {}).get(name) or {}
    for decorator in spec.get("decorators") or []:
        argument = decorator.get("argument") if decorator.get("type") == "metadata" else None
        azd = argument.get("azd") if isinstance(argument, dict) else None
        if isinstance(azd, dict) and azd.get("type") in ("generate", "'generate'"):
            return True
    return False


def declared_params(parsed: Parsed) -> dict[str, bool]:
    """param name -> whether main.parameters.json must supply it: no default value, not a nullable `type?`, and not
    generated by azd."""
    params = {}
    for element in tree_elements(parsed.tree, "param"):
        _decorators, name, data_type, default = element.children
        nullable = False
        if getattr(data_type, "meta", None) is not None and not data_type.meta.empty:
            nullable = parsed.text[data_type.meta.end_pos :].lstrip().startswith("?")
        params[str(name)] = default is None and not nullable and not azd_generates(parsed, str(name))
    return params


def check_bicep_references(root: Path, parsed: Parsed) -> None:
    here = parsed.path.parent
    name = rel(root, parsed.path)
    for module, spec in (parsed.data.get("modules") or {}).items():
        if spec.get("type") != "local":
            continue  # registry (br:) and template spec (ts:) modules are resolved by Azure
        target = (spec.get("detail") or {}).get("path", "")
        if "${" in target:
            problem(name, f"module '{module}' has an interpolated path '{target}' (Bicep needs a literal path)")
        elif not (here / target).is_file():
            problem(name, f"module '{module}' refers to '{target}', which does not exist (relative to {rel(root, here)}/)")
    check_module_arguments(root, parsed)
    for imported, spec in (parsed.data.get("imports") or {}).items():
        target = (spec or {}).get("file_path") if isinstance(spec, dict) else None
        if target and not target.startswith(("br:", "br/", "ts:", "ts/")) and not (here / target).is_file():
            problem(name, f"import '{imported}' refers to '{target}', which does not exist (relative to {rel(root, here)}/)")


def tree_data(node) -> str | None:
    return getattr(node, "data", None)


def object_pairs(node) -> dict:
    """key -> value node of an object literal (anything else: empty)."""
    if tree_data(node) != "object":
        return {}
    pairs = {}
    for child in node.children:
        if tree_data(child) == "pair":
            key, value = child.children[0], child.children[1]
            pairs[unquote(key.children[0])] = value
    return pairs


def declaration_body(value):
    """A resource's or module's value without its deploy condition: (condition node or None, body node)."""
    if tree_data(value) == "deploy_condition":
        return value.children[0], value.children[1]
    return None, value


def module_calls(parsed: Parsed):
    """(symbol, path, condition node or None, params object node or None, element) of each local module."""
    for element in tree_elements(parsed.tree, "module"):
        _decorators, symbol, path_node, value = element.children
        target = unquote(path_node.children[0])
        if target.startswith(("br:", "br/", "ts:", "ts/")) or "${" in target:
            continue
        condition, body = declaration_body(value)
        params = object_pairs(body).get("params")
        yield str(symbol), target, condition, params, element


def check_module_arguments(root: Path, parsed: Parsed) -> None:
    """Each local module gets every param it requires and none it does not declare (what `bicep build` refuses)."""
    name = rel(root, parsed.path)
    for symbol, target, _condition, params, element in module_calls(parsed):
        path = parsed.path.parent / target
        if not path.is_file():
            continue  # said by check_bicep_references
        try:
            declared = declared_params(parse_bicep(path))
        except Exception:
            continue  # said by the parse stage
        passed = object_pairs(params) if params is not None else {}
        if params is not None and tree_data(params) != "object":
            continue  # an expression: nothing to compare
        line = element.meta.line
        for key in passed:
            if key not in declared:
                problem(f"{name}:{line}", f"module '{symbol}' passes '{key}', which {rel(root, path)} does not declare")
        for key, required in declared.items():
            if required and key not in passed:
                problem(f"{name}:{line}", f"module '{symbol}' does not pass '{key}', which {rel(root, path)} requires (no default)")


def check_main(root: Path, parsed: Parsed) -> None:
    main = rel(root, parsed.path)
    scopes = [unquote(element.children[0]) for element in tree_elements(parsed.tree, "scope")]
    if not scopes:
        problem(main, "has no targetScope; azd deploys it at subscription scope: add targetScope = 'subscription'")
    elif scopes[-1] != "subscription":
        problem(main, f"targetScope is '{scopes[-1]}', expected 'subscription'")

    params = declared_params(parsed)
    parameters_file = root / "infra" / "main.parameters.json"
    pname = rel(root, parameters_file)
    if not parameters_file.is_file():
        problem(pname, "is missing (azd reads main.bicep's parameters from it)")
        return
    try:
        document = json.loads(parameters_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        problem(pname, f"is not valid JSON: line {error.lineno} column {error.colno}: {error.msg}")
        return
    supplied = document.get("parameters") if isinstance(document, dict) else None
    if not isinstance(supplied, dict):
        problem(pname, "has no \"parameters\" object")
        return
    for key, entry in supplied.items():
        if key not in params:
            problem(pname, f"parameter '{key}' is not a param of {main}")
        elif not isinstance(entry, dict) or not ({"value", "reference"} & entry.keys()):
            problem(pname, f"parameter '{key}' has neither \"value\" nor \"reference\"")
    for key, required in params.items():
        if required and key not in supplied:
            problem(pname, f"required param '{key}' of {main} (no default value, not generated by azd) is not supplied")


def yaml_mapping(path, name, empty_is_fine=False):
    """The YAML mapping in `path`, or None after saying what is wrong with it (as `name`)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        problem(name, f"is not valid YAML: {str(error).splitlines()[0]}")
        return None
    if document is None and empty_is_fine:
        return {}
    if not isinstance(document, dict):
        problem(name, "is not a YAML mapping")
        return None
    return document


def check_azure_yaml(root: Path) -> None:
    import yaml

    path = root / "azure.yaml"
    if not path.is_file():
        problem("azure.yaml", "is missing (azd reads the project from it)")
        return
    document = yaml_mapping(path, "azure.yaml")
    if document is None:
        return
    if not document.get("name"):
        problem("azure.yaml", "has no name")
    infra = document.get("infra") or {}
    if isinstance(infra, dict) and infra.get("path") and not (root / infra["path"]).is_dir():
        problem("azure.yaml", f"infra.path '{infra['path']}' does not exist")
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        problem("azure.yaml", "names no services")
        return
    for service, spec in services.items():
        if not isinstance(spec, dict):
            problem("azure.yaml", f"service '{service}' is not a mapping")
            continue
        project = spec.get("project")
        if not project:
            problem("azure.yaml", f"service '{service}' has no project path")
            continue
        project_dir = root / project
        if not project_dir.is_dir():
            problem("azure.yaml", f"service '{service}': project '{project}' does not exist")
            continue
        docker = spec.get("docker") or {}
        containerised = spec.get("language") == "docker" or spec.get("host") in ("containerapp", "aks") or docker
        if not containerised or docker.get("image"):
            continue
        dockerfile = docker.get("path") or "./Dockerfile"
        if not (project_dir / dockerfile).is_file():
            problem("azure.yaml", f"service '{service}': docker path '{dockerfile}' does not exist (relative to project '{project}')")
        context = docker.get("context")
        if context and not (project_dir / context).is_dir():
            problem("azure.yaml", f"service '{service}': docker context '{context}' does not exist (relative to project '{project}')")


def cmd_structure(root: Path) -> None:
    files = bicep_files(root)
    main_path = root / "infra" / "main.bicep"
    if not main_path.is_file():
        problem("infra/main.bicep", "is missing")
    for path in files:
        try:
            parsed = parse_bicep(path)
        except Exception:
            problem(rel(root, path), "does not parse (see the bicep stage); its references are not checked")
            continue
        check_bicep_references(root, parsed)
        if path.resolve() == main_path.resolve():
            check_main(root, parsed)
    check_azure_yaml(root)
    if not problems:
        print(f"modules, main.parameters.json, targetScope and azure.yaml agree ({len(files)} Bicep file(s))")


# --- the parameter matrix ---------------------------------------------------------------------------------------
#
# main.bicep is checked under several parameter sets: the values azd passes by default (main.parameters.json, each
# `${VAR=default}` read as its default) and each infra/matrix/*.parameters.json laid over them. Under each set the
# deploy conditions (`= if (...)`) are evaluated from main.bicep down through its module calls, as far as they are
# plain enough (params, vars, literals, !, &&, ||, ==, !=, ?:, empty()); what depends on Azure stays undecided.
# A reference to a resource or module that a set leaves out is a deployment that fails with that set: Azure
# evaluates only the branch of `cond ? a : b` that is taken, so a reference must sit in the branch (or inside an
# `if (...)`) that holds exactly when its target is deployed.

UNKNOWN = object()
MATRIX_DIR = ("infra", "matrix")


def node_text(parsed: Parsed, node) -> str:
    meta = getattr(node, "meta", None)
    if meta is not None and not meta.empty:
        return parsed.text[meta.start_pos:meta.end_pos]
    return str(node)


def normalized(text: str) -> str:
    text = "".join(text.split())
    while text.startswith("(") and text.endswith(")") and balanced(text[1:-1]):
        text = text[1:-1]
    return text


def balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def literal_string(token) -> str | object:
    """The value of a quoted Bicep string without interpolation, else UNKNOWN."""
    value = str(token)
    if not (len(value) >= 2 and value[0] == value[-1] == "'") or "${" in value:
        return UNKNOWN
    return value[1:-1].replace("\\'", "'").replace("\\\\", "\\")


class Scope:
    """One instance of a Bicep file in the deployment: main.bicep, or a module call with its arguments."""

    def __init__(self, parsed: Parsed, arguments: dict, deployed, trail: str):
        self.parsed, self.arguments, self.deployed, self.trail = parsed, arguments, deployed, trail
        self.params = {str(e.children[1]): e for e in tree_elements(parsed.tree, "param")}
        self.vars = {str(e.children[1]): e for e in tree_elements(parsed.tree, "var")}
        self.cache: dict = {}

    def lookup(self, name: str):
        if name in self.cache:
            return self.cache[name]
        self.cache[name] = UNKNOWN  # a cycle stays unknown
        value = UNKNOWN
        if name in self.params:
            if name in self.arguments:
                value = self.arguments[name]
            elif self.params[name].children[3] is not None:
                value = self.evaluate(self.params[name].children[3])
        elif name in self.vars:
            value = self.evaluate(self.vars[name].children[3])
        self.cache[name] = value
        return value

    def evaluate(self, node):
        kind = tree_data(node)
        if kind == "operator":
            return self.evaluate(node.children[0]) if len(node.children) == 1 else UNKNOWN
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "null":
            return None
        if kind == "int_type":
            return int(str(node.children[0]))
        if kind == "minus":
            value = self.evaluate(node.children[0])
            return -value if isinstance(value, int) and not isinstance(value, bool) else UNKNOWN
        if kind == "string":
            token = node.children[0]
            if getattr(token, "type", "") == "STRING":
                return self.lookup(str(token))
            return literal_string(token)
        if kind == "array":
            values = [self.evaluate(child) for child in node.children]
            return UNKNOWN if any(value is UNKNOWN for value in values) else values
        if kind == "not_op":
            value = self.evaluate(node.children[0])
            return (not value) if isinstance(value, bool) else UNKNOWN
        if kind in ("and_op", "or_op"):
            left, right = (self.evaluate(child) for child in node.children)
            decisive = kind == "or_op"  # the value that decides alone: True for ||, False for &&
            if left is decisive or right is decisive:
                return decisive
            if isinstance(left, bool) and isinstance(right, bool):
                return not decisive
            return UNKNOWN
        if kind in ("equals", "not_equals"):
            left, right = (self.evaluate(child) for child in node.children)
            if left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN
            return (left == right) == (kind == "equals")
        if kind == "conditional":
            condition = self.evaluate(node.children[0])
            if isinstance(condition, bool):
                return self.evaluate(node.children[1] if condition else node.children[2])
            return UNKNOWN
        if kind == "function":
            name = str(node.children[0]).rstrip("(").strip()
            arguments = [self.evaluate(child) for child in node.children[1:]]
            if name == "empty" and len(arguments) == 1 and isinstance(arguments[0], (str, list, dict)):
                return len(arguments[0]) == 0
            if name == "string" and len(arguments) == 1 and isinstance(arguments[0], (str, int)) and not isinstance(arguments[0], bool):
                return str(arguments[0])
            return UNKNOWN
        return UNKNOWN


def conjuncts(node) -> list:
    """The operands of a chain of && (the node itself otherwise), brackets and `operator` wrappers looked through."""
    while tree_data(node) in ("operator", "value_brackets") and len(node.children) == 1:
        node = node.children[0]
    if tree_data(node) == "and_op":
        return conjuncts(node.children[0]) + conjuncts(node.children[1])
    return [node]


class Reference:
    def __init__(self, symbol: str, line: int, guards: list, owner: str | None):
        self.symbol, self.line, self.guards, self.owner = symbol, line, guards, owner


def references(parsed: Parsed, symbols: set[str]) -> list[Reference]:
    """Every use of one of `symbols` in the file, with the conditions it sits under: [(condition node, taken when
    True)], outermost first. Names a declaration gives itself, property names after a dot, object keys and
    dependsOn lists (a dependency on a part that is left out is dropped by Azure) are not uses."""
    found: list[Reference] = []
    name_pattern = re.compile(r"(?<![\w.$])([A-Za-z_]\w*)")

    def visit(node, guards, owner):
        kind = tree_data(node)
        if kind is None:
            token_type = getattr(node, "type", "")
            if token_type == "QUOTED_INTERPOLATION" and "${" in str(node):
                for segment in re.findall(r"\$\{([^}]*)\}", str(node)):
                    for match in name_pattern.finditer(segment):
                        if match.group(1) in symbols:
                            found.append(Reference(match.group(1), node.line, guards, owner))
            return
        if kind == "string":
            token = node.children[0]
            if getattr(token, "type", "") == "STRING" and str(token) in symbols:
                found.append(Reference(str(token), token.line, guards, owner))
            else:
                visit(token, guards, owner)
            return
        if kind == "pair":
            key = unquote(node.children[0].children[0])
            if key == "dependsOn":
                return
            for child in node.children[1:]:
                visit(child, guards, owner)
            return
        if kind == "property_accessor":
            visit(node.children[0], guards, owner)  # the second child is a property name
            return
        if kind == "conditional":
            condition, when_true, when_false = node.children
            visit(condition, guards, owner)
            visit(when_true, guards + [(condition, True)], owner)
            visit(when_false, guards + [(condition, False)], owner)
            return
        if kind == "deploy_condition":
            condition, body = node.children
            visit(condition, guards, owner)
            visit(body, guards + [(condition, True)], owner)
            return
        if kind == "decorators":
            return
        for child in node.children:
            if child is not None:
                visit(child, guards, owner)

    for element in parsed.tree.children:
        kind = tree_data(element)
        if kind not in ("param", "var", "output", "resource", "module"):
            continue
        owner = str(element.children[1])
        for child in element.children[2:]:
            if child is not None:
                visit(child, [], owner)
    return found


def conditional_declarations(parsed: Parsed) -> dict:
    """symbol -> (kind, condition node) of each resource and module deployed only `if (...)`."""
    found = {}
    for element in parsed.tree.children:
        kind = tree_data(element)
        if kind not in ("resource", "module"):
            continue
        condition, _body = declaration_body(element.children[-1])
        if condition is not None:
            found[str(element.children[1])] = (kind, condition)
    return found


def azd_value(value):
    """The value azd passes for a main.parameters.json entry: `${VAR=default}` is its default, `${VAR}` is
    whatever the environment holds (UNKNOWN), anything else is itself."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", value, flags=re.S)
        if match:
            return UNKNOWN if match.group(2) is None else match.group(2)
        if "${" in value:
            return UNKNOWN
    return value


def typed(value, declared_type: str):
    """A value as the param's type receives it (azd passes strings; Azure converts them), or raises ValueError."""
    if value is UNKNOWN or value is None:
        return value
    if declared_type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("is not a bool")
    if declared_type == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError("is not an int")
    if declared_type == "string":
        if isinstance(value, str):
            return value
        raise ValueError("is not a string")
    if declared_type == "array" and not isinstance(value, list):
        raise ValueError("is not an array")
    if declared_type == "object" and not isinstance(value, dict):
        raise ValueError("is not an object")
    return value


def check_param_value(where: str, scope: Scope, element, value) -> None:
    """The value against the param's type and its @allowed, @minValue/@maxValue and @minLength/@maxLength."""
    name = str(element.children[1])
    data_type = element.children[2]
    declared_type = str(data_type.children[0].children[0]) if tree_data(data_type) == "data_type" and \
        tree_data(data_type.children[0]) == "base_type" and data_type.children[0].children else ""
    try:
        value = typed(value, declared_type)
    except ValueError as error:
        problem(where, f"param '{name}': {value!r} {error} ({declared_type})")
        return
    if value is UNKNOWN or value is None:
        return
    decorators = element.children[0]
    for decorator in (decorators.children if decorators is not None else []):
        kind = str(decorator.children[0]).split(".")[-1]
        argument = scope.evaluate(decorator.children[1]) if len(decorator.children) > 1 else UNKNOWN
        if argument is UNKNOWN:
            continue
        if kind == "allowed" and isinstance(argument, list) and value not in argument:
            problem(where, f"param '{name}': {value!r} is not one of its @allowed values {argument}")
        elif kind == "minValue" and isinstance(value, int) and value < argument:
            problem(where, f"param '{name}': {value} is below its @minValue({argument})")
        elif kind == "maxValue" and isinstance(value, int) and value > argument:
            problem(where, f"param '{name}': {value} is above its @maxValue({argument})")
        elif kind == "minLength" and isinstance(value, (str, list)) and len(value) < argument:
            problem(where, f"param '{name}': {value!r} is shorter than its @minLength({argument})")
        elif kind == "maxLength" and isinstance(value, (str, list)) and len(value) > argument:
            problem(where, f"param '{name}': {value!r} is longer than its @maxLength({argument})")


def parameter_sets(root: Path) -> list[tuple[str, str, dict]]:
    """(name, file, {param: value}) of the azd defaults and of each infra/matrix/*.parameters.json over them."""
    base_file = root / "infra" / "main.parameters.json"
    base = {}
    try:
        document = json.loads(base_file.read_text(encoding="utf-8"))
        for key, entry in (document.get("parameters") or {}).items():
            if isinstance(entry, dict) and "value" in entry:
                base[key] = azd_value(entry["value"])
    except (OSError, json.JSONDecodeError, AttributeError):
        pass  # said by the structure stage
    sets = [("azd defaults", rel(root, base_file), base)]
    matrix = root.joinpath(*MATRIX_DIR)
    for path in sorted(matrix.glob("*.parameters.json")) if matrix.is_dir() else []:
        name = path.name[: -len(".parameters.json")]
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problem(rel(root, path), f"is not valid JSON: line {error.lineno} column {error.colno}: {error.msg}")
            continue
        overrides = document.get("parameters") if isinstance(document, dict) else None
        if not isinstance(overrides, dict) or not overrides:
            problem(rel(root, path), "has no \"parameters\" object with a value to try")
            continue
        values = dict(base)
        for key, entry in overrides.items():
            if not isinstance(entry, dict) or "value" not in entry:
                problem(rel(root, path), f"parameter '{key}' has no \"value\"")
                continue
            values[key] = entry["value"]
        sets.append((name, rel(root, path), values))
    return sets


def cmd_matrix(root: Path) -> None:
    main_path = root / "infra" / "main.bicep"
    try:
        main = parse_bicep(main_path)
    except Exception:
        problem("infra/main.bicep", "does not parse (see the bicep stage); the matrix is not checked")
        return
    parsed_files: dict[Path, Parsed | None] = {main_path.resolve(): main}

    def parsed_at(path: Path):
        key = path.resolve()
        if key not in parsed_files:
            try:
                parsed_files[key] = parse_bicep(path)
            except Exception:
                parsed_files[key] = None
        return parsed_files[key]

    sets = parameter_sets(root)
    outcomes: dict[tuple[str, str], dict[str, set]] = {}  # (file, symbol) -> set name -> {True, False, UNKNOWN}
    conditions: dict[tuple[str, str], str] = {}
    unguarded_said: set = set()
    unreachable: dict[tuple, list] = {}  # (where, symbol, condition) -> [(set, file, module trail)] that leave it out
    summaries = []

    for set_name, set_file, values in sets:
        main_params = {str(e.children[1]): e for e in tree_elements(main.tree, "param")}
        arguments = {}
        top = Scope(main, {}, True, "infra/main.bicep")
        for key, value in values.items():
            if key not in main_params:
                if set_file != "infra/main.parameters.json":
                    problem(set_file, f"parameter '{key}' is not a param of infra/main.bicep")
                continue
            element = main_params[key]
            data_type = element.children[2]
            declared_type = str(data_type.children[0].children[0]) if data_type.children and \
                tree_data(data_type.children[0]) == "base_type" else ""
            before = len(problems)
            check_param_value(set_file, top, element, value)
            if len(problems) == before:
                arguments[key] = typed(value, declared_type)
        # params without a value from the set take their default; check those that can be evaluated as well
        top = Scope(main, arguments, True, "infra/main.bicep")
        for key, element in main_params.items():
            if key not in arguments and element.children[3] is not None:
                default = top.evaluate(element.children[3])
                check_param_value(f"infra/main.bicep:{element.meta.line}", top, element, default)

        deployed_parts = []
        pending = [top]
        while pending:
            scope = pending.pop()
            parsed = scope.parsed
            file_name = rel(root, parsed.path)
            declared = conditional_declarations(parsed)
            state = {}
            for symbol, (_kind, condition) in declared.items():
                value = scope.evaluate(condition) if scope.deployed is not False else False
                if scope.deployed is UNKNOWN and value is True:
                    value = UNKNOWN
                state[symbol] = value
                key = (file_name, symbol)
                conditions[key] = normalized(node_text(parsed, condition))
                outcomes.setdefault(key, {}).setdefault(set_name, set()).add(value)
                if value is True:
                    deployed_parts.append(f"{file_name.removeprefix('infra/')}:{symbol}")
            if scope.deployed is not False and declared:
                for reference in references(parsed, set(declared)):
                    if reference.owner == reference.symbol:
                        continue
                    target_value = state[reference.symbol]
                    taken = [scope.evaluate(condition) if polarity else
                             (lambda v: (not v) if isinstance(v, bool) else UNKNOWN)(scope.evaluate(condition))
                             for condition, polarity in reference.guards]
                    if any(value is False for value in taken) or target_value is True:
                        continue
                    where = f"{file_name}:{reference.line}"
                    condition_text = conditions[(file_name, reference.symbol)]
                    if target_value is False and all(value is not False for value in taken):
                        unreachable.setdefault((where, reference.symbol, condition_text), []).append((set_name, set_file, scope.trail))
                        continue
                    # undecided here: the use must stand under the target's own condition, word for word
                    implied = {normalized(node_text(parsed, c)) for guard, polarity in reference.guards if polarity
                               for c in conjuncts(guard)}
                    implied |= {normalized("!" + node_text(parsed, guard)) for guard, polarity in reference.guards
                                if not polarity}
                    if condition_text not in implied and (where, reference.symbol) not in unguarded_said:
                        unguarded_said.add((where, reference.symbol))
                        problem(where, f"uses '{reference.symbol}', which is deployed only if ({condition_text}), "
                                       f"outside `{condition_text} ? … : …` or an `if ({condition_text})` of its own")
            for symbol, target, condition, params, _element in module_calls(parsed):
                child = parsed_at(parsed.path.parent / target)
                if child is None:
                    continue
                deployed = scope.deployed
                if condition is not None and deployed is not False:
                    value = scope.evaluate(condition)
                    deployed = False if value is False else (deployed if value is True else UNKNOWN)
                passed = {key: scope.evaluate(value) for key, value in object_pairs(params).items()} if params is not None else {}
                pending.append(Scope(child, passed, deployed, f"{scope.trail} → {symbol}"))
        summaries.append(f"{set_name}: {', '.join(sorted(set(deployed_parts))) or 'no optional part'}")

    for (where, symbol, condition_text), cases in unreachable.items():
        (set_name, set_file, trail), others = cases[0], {name for name, _file, _trail in cases[1:]} - {cases[0][0]}
        problem(where, f"uses '{symbol}', which parameter set '{set_name}' ({set_file}) leaves out (if ({condition_text}) is "
                       f"false in {trail}{'; so do ' + ', '.join(sorted(others)) if others else ''}): put the use under that condition")

    # each optional part that the sets decide must be tried both ways
    tried = []
    for (file_name, symbol), by_set in sorted(outcomes.items()):
        values = set().union(*by_set.values())
        if UNKNOWN in values:
            continue
        if values == {True, False}:
            tried.append(f"{file_name.removeprefix('infra/')}:{symbol}")
            continue
        always, other = ("deploys it", "leaves it out") if values == {True} else ("leaves it out", "deploys it")
        problem(file_name, f"'{symbol}' (if ({conditions[(file_name, symbol)]})): every parameter set {always}, so the "
                           f"other way is never checked: add a set to infra/matrix/ that {other}")
    if not problems:
        print(f"{len(sets)} parameter set(s) fit main.bicep; {len(tried)} optional part(s) checked deployed and left out "
              f"({', '.join(tried)})")
        for line in summaries:
            print(f"  deployed under {line}")


# --- docker-compose.yml's builds ---------------------------------------------------------------------------------


def cmd_compose_builds(root: Path) -> None:
    import yaml

    path = root / "docker-compose.yml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        problem("docker-compose.yml", f"cannot be read: {str(error).splitlines()[0]}")
        return
    for service, spec in (document.get("services") or {}).items():
        build = (spec or {}).get("build") if isinstance(spec, dict) else None
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = build.get("context", ".")
        if "://" in context or context.startswith("git@") or "$" in context:
            continue
        context_dir = root / context
        if not context_dir.is_dir():
            problem("docker-compose.yml", f"service '{service}': build context '{context}' does not exist")
            continue
        dockerfile = build.get("dockerfile", "Dockerfile")
        if "$" not in dockerfile and not (context_dir / dockerfile).is_file():
            problem("docker-compose.yml", f"service '{service}': dockerfile '{dockerfile}' does not exist (relative to context '{context}')")


# --- checkov ---------------------------------------------------------------------------------------------------


def cmd_checkov_config(root: Path) -> None:
    import yaml

    path = root / ".checkov.yaml"
    if not path.is_file():
        return
    config = yaml_mapping(path, ".checkov.yaml", empty_is_fine=True)
    if config is None:
        return
    for key in ("directory", "file", "skip-framework"):
        if key in config:
            # with a directory from its config file checkov silently drops the gate's --file list, and file or
            # skip-framework would change what it scans too (framework is harmless: the command line's wins)
            problem(".checkov.yaml", f"sets '{key}': the gate chooses the files and frameworks, keep only checks and skips there")


def cmd_unconditional(root: Path) -> None:
    """Rewrites every *.bicep under ROOT/infra (a copy) with each `if (...)` deploy condition blanked out, lines and
    columns kept. checkov reads a conditional resource as {condition, config} and finds none of its properties, so
    it would pass or fail it blind; without the condition it checks an optional part as the sets that deploy it do."""
    for path in bicep_files(root):
        try:
            parsed = parse_bicep(path)
        except Exception:
            continue  # checkov reports it as unparsable, as it would the original
        text = parsed.text
        spans = []
        for element in parsed.tree.children:
            if tree_data(element) in ("resource", "module"):
                value = element.children[-1]
                if tree_data(value) == "deploy_condition":
                    spans.append((value.meta.start_pos, value.children[1].meta.start_pos))
        for start, end in sorted(spans, reverse=True):
            text = text[:start] + "".join(char if char == "\n" else " " for char in text[start:end]) + text[end:]
        if spans:
            path.write_text(text, encoding="utf-8")


def cmd_checkov_report(report: Path, root: Path) -> None:
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        print(f"checkov wrote no JSON report ({error})", file=sys.stderr)
        sys.exit(2)
    results = data if isinstance(data, list) else [data]
    totals = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
    # a framework that checked nothing (its files not found, or all skipped) must not pass as clean
    checked = {result.get("check_type") for result in results
               if int((result.get("summary", result)).get("passed", 0) or 0) > 0}
    for framework in ("bicep", "dockerfile"):
        if framework not in checked:
            problem(framework, "checkov passed no check at all for it: were its files scanned?")
    for result in results:
        framework = result.get("check_type", "(no files)")
        summary = result.get("summary", result)
        for key in totals:
            totals[key] += int(summary.get(key, 0) or 0)
        body = result.get("results") or {}
        for failed in body.get("failed_checks") or []:
            start, end = (failed.get("file_line_range") or [0, 0])[:2]
            where = (failed.get("repo_file_path") or failed.get("file_path") or "?").lstrip("/")
            where = rel(root, Path(failed["file_abs_path"])) if failed.get("file_abs_path") else where
            guideline = f" {failed['guideline']}" if failed.get("guideline") else ""
            problem(f"{where}:{start}-{end}", f"{failed['check_id']} failed ({framework}, {failed.get('resource')}): {failed.get('check_name')}{guideline}")
        errors = body.get("parsing_errors") or []
        for error in errors:
            problem(rel(root, Path(error)), f"checkov ({framework}) cannot parse this file, so none of its checks ran")
        if int(summary.get("parsing_errors", 0) or 0) and not errors:
            problem(framework, f"checkov reports {summary['parsing_errors']} parse error(s) without naming the files")
    closing.append(f"checkov: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped, "
          f"{totals['parsing_errors']} file(s) it could not parse")


# --- the self-test's breakages --------------------------------------------------------------------------------


def cmd_mutate(case: str, root: Path) -> None:
    """Breaks the copy at ROOT one way and prints what the gate's output must name (a file, a param)."""
    infra = root / "infra"
    if case == "bicep-syntax":
        files = bicep_files(root)
        modules = [path for path in files if path.name != "main.bicep"] or files
        target = modules[-1]
        with target.open("a", encoding="utf-8") as out:
            out.write("\nresource selfTestBroken 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n  location: \n")
        print(rel(root, target))
    elif case in ("params-missing", "params-undeclared"):
        parameters_file = infra / "main.parameters.json"
        document = json.loads(parameters_file.read_text(encoding="utf-8"))
        if case == "params-missing":
            required = [name for name, needed in declared_params(parse_bicep(infra / "main.bicep")).items() if needed]
            supplied = [name for name in required if name in document["parameters"]]
            if not supplied:
                print("main.bicep has no required param that main.parameters.json supplies", file=sys.stderr)
                sys.exit(2)
            del document["parameters"][supplied[0]]
            print(supplied[0])
        else:
            document["parameters"]["selfTestUndeclared"] = {"value": "x"}
            print("selfTestUndeclared")
        parameters_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    elif case == "module-param-undeclared":
        main = parse_bicep(infra / "main.bicep")
        calls = [(symbol, params) for symbol, _target, _condition, params, _element in module_calls(main)
                 if tree_data(params) == "object"]
        if not calls:
            print("main.bicep calls no module with a params object", file=sys.stderr)
            sys.exit(2)
        symbol, params = calls[0]
        at = params.meta.start_pos + 1  # just after the params object's `{`
        text = main.text[:at] + "\n    selfTestUndeclared: 'x'" + main.text[at:]
        (infra / "main.bicep").write_text(text, encoding="utf-8")
        print(symbol)
    elif case == "matrix-unguarded":
        # a use of an optional part outside its condition, appended to a module file that has one: the PostgreSQL
        # read replica where there is one (the part step 5 made optional), else the first found
        candidates = [(path, symbol) for path in bicep_files(root) if path.name != "main.bicep"
                      for symbol in sorted(conditional_declarations(parse_bicep(path)))]
        if not candidates:
            print("no module deploys anything `if (...)`", file=sys.stderr)
            sys.exit(2)
        path, symbol = next((c for c in candidates if c[1] == "replica"), candidates[0])
        with path.open("a", encoding="utf-8") as out:
            out.write(f"\noutput selfTestUnguarded string = {symbol}.name\n")
        print(f"{rel(root, path)}\t{symbol}")
    elif case == "matrix-not-allowed":
        # a parameter set giving a main.bicep param a value outside its @allowed list
        main = parse_bicep(infra / "main.bicep")
        chosen = None
        for element in tree_elements(main.tree, "param"):
            decorators = element.children[0]
            names = [str(d.children[0]) for d in (decorators.children if decorators is not None else [])]
            if "allowed" in names and str(element.children[2].children[0].children[0]) == "string":
                chosen = str(element.children[1])
                if chosen == "postgresSkuTier":  # the tier a read replica needs: Burstable has none
                    break
        if chosen is None:
            print("main.bicep has no string param with @allowed", file=sys.stderr)
            sys.exit(2)
        target = root.joinpath(*MATRIX_DIR) / "selftest-not-allowed.parameters.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        value = "Burstable" if chosen == "postgresSkuTier" else "selftest-not-allowed"
        target.write_text(json.dumps({"parameters": {chosen: {"value": value}}}, indent=2) + "\n", encoding="utf-8")
        print(f"{rel(root, target)}\t{chosen}\t{value}")
    elif case == "matrix-uncovered":
        # without infra/matrix/, an optional part that azd's defaults leave out is never checked deployed
        matrix = root.joinpath(*MATRIX_DIR)
        sets = sorted(matrix.glob("*.parameters.json")) if matrix.is_dir() else []
        if not sets:
            print("infra/matrix/ has no parameter set to remove", file=sys.stderr)
            sys.exit(2)
        for path in sets:
            path.unlink()
        print(rel(root, matrix))
    elif case == "checkov-unparsable":
        # valid Bicep that pycep-parser 0.7 parses but checkov's older pycep-parser cannot (a user-defined function)
        target = infra / "selftest-unparsable.bicep"
        target.write_text("func selfTestGreeting(name string) string => 'hello ${name}'\n\noutput greeting string = selfTestGreeting('x')\n",
                          encoding="utf-8")
        print(rel(root, target))
    elif case in ("checkov-failing", "checkov-failing-optional"):
        # -optional: the insecure resources are deployed only `if (...)`, which checkov must not take as a pass
        optional = case == "checkov-failing-optional"
        target = infra / ("selftest-insecure-optional.bicep" if optional else "selftest-insecure.bicep")
        deploy = "if (selfTestOn) {" if optional else "{"
        target.write_text(
            "param location string = resourceGroup().location\n"
            + ("param selfTestOn bool = false\n" if optional else "") + "\n"
            f"resource selfTestVault 'Microsoft.KeyVault/vaults@2023-07-01' = {deploy}\n"
            "  name: 'kv-selftest'\n  location: location\n  properties: {\n"
            "    tenantId: subscription().tenantId\n    sku: {\n      family: 'A'\n      name: 'standard'\n    }\n"
            "    enableSoftDelete: false\n    enablePurgeProtection: false\n    publicNetworkAccess: 'Enabled'\n"
            "    accessPolicies: []\n  }\n}\n\n"
            f"resource selfTestStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {deploy}\n"
            "  name: 'stselftest'\n  location: location\n  kind: 'StorageV2'\n  sku: {\n    name: 'Standard_LRS'\n  }\n"
            "  properties: {\n    supportsHttpsTrafficOnly: false\n    minimumTlsVersion: 'TLS1_0'\n    allowBlobPublicAccess: true\n  }\n}\n",
            encoding="utf-8")
        print(rel(root, target))
    elif case == "dockerfile-lint":
        dockerfiles = sorted(p for p in root.rglob("*") if p.is_file() and is_dockerfile(p) and not excluded(root, p))
        if not dockerfiles:
            print("no Dockerfile to break", file=sys.stderr)
            sys.exit(2)
        target = dockerfiles[0]
        with target.open("a", encoding="utf-8") as out:
            out.write("\nFROM debian:latest AS selftest-broken\nRUN apt-get update && apt-get install -y curl\n")
        print(rel(root, target))
    else:
        print(f"unknown case {case}", file=sys.stderr)
        sys.exit(2)


EXCLUDED_DIRS = {"target", "node_modules", ".git"}


def excluded(root: Path, path: Path) -> bool:
    parts = path.relative_to(root).parts
    return bool(EXCLUDED_DIRS & set(parts[:-1])) or parts[:3] == ("tools", "infra-check", "fixtures")


def is_dockerfile(path: Path) -> bool:
    name = path.name
    return (name == "Dockerfile" or name.endswith(".Dockerfile") or name.startswith("Dockerfile.")) and not name.endswith(".dockerignore")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    if command == "parse":
        cmd_parse(Path(args[0]))
    elif command == "structure":
        cmd_structure(Path(args[0]))
    elif command == "matrix":
        cmd_matrix(Path(args[0]))
    elif command == "compose-builds":
        cmd_compose_builds(Path(args[0]))
    elif command == "checkov-config":
        cmd_checkov_config(Path(args[0]))
    elif command == "unconditional":
        cmd_unconditional(Path(args[0]))
        return 0
    elif command == "checkov-report":
        cmd_checkov_report(Path(args[0]), Path(args[1]))
    elif command == "mutate":
        cmd_mutate(args[0], Path(args[1]))
        return 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for line in problems + closing:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
