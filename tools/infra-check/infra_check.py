"""Checks behind scripts/check-infra (the offline infrastructure gate). Run by that script, with the
interpreter of target/infra-tools/bicep (pycep-parser and PyYAML pinned in requirements-bicep.txt);
the `checkov-report` subcommand needs the standard library only.

  infra_check.py parse ROOT                 every *.bicep under ROOT/infra parses (pycep-parser)
  infra_check.py structure ROOT             modules and imports exist, main.parameters.json matches main.bicep's
                                            params, targetScope is 'subscription', azure.yaml names existing paths
  infra_check.py compose-builds ROOT        build contexts and Dockerfiles named by docker-compose.yml exist
  infra_check.py checkov-config ROOT        .checkov.yaml does not choose the scanned files itself
  infra_check.py checkov-report JSON ROOT   checkov's -o json output: no failed check and no file it could not parse
  infra_check.py mutate CASE ROOT           the self-test's breakages (see scripts/check-infra --self-test)

Every problem is printed as one line, `path: problem`, with the path relative to ROOT; the exit status is 1 when
there is any, 2 when the check itself could not run.
"""

from __future__ import annotations

import json
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
    for imported, spec in (parsed.data.get("imports") or {}).items():
        target = (spec or {}).get("file_path") if isinstance(spec, dict) else None
        if target and not target.startswith(("br:", "br/", "ts:", "ts/")) and not (here / target).is_file():
            problem(name, f"import '{imported}' refers to '{target}', which does not exist (relative to {rel(root, here)}/)")


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
    elif case == "checkov-unparsable":
        # valid Bicep that pycep-parser 0.7 parses but checkov's older pycep-parser cannot (a user-defined function)
        target = infra / "selftest-unparsable.bicep"
        target.write_text("func selfTestGreeting(name string) string => 'hello ${name}'\n\noutput greeting string = selfTestGreeting('x')\n",
                          encoding="utf-8")
        print(rel(root, target))
    elif case == "checkov-failing":
        target = infra / "selftest-insecure.bicep"
        target.write_text(
            "param location string = resourceGroup().location\n\n"
            "resource selfTestVault 'Microsoft.KeyVault/vaults@2023-07-01' = {\n"
            "  name: 'kv-selftest'\n  location: location\n  properties: {\n"
            "    tenantId: subscription().tenantId\n    sku: {\n      family: 'A'\n      name: 'standard'\n    }\n"
            "    enableSoftDelete: false\n    enablePurgeProtection: false\n    publicNetworkAccess: 'Enabled'\n"
            "    accessPolicies: []\n  }\n}\n\n"
            "resource selfTestStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
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
    elif command == "compose-builds":
        cmd_compose_builds(Path(args[0]))
    elif command == "checkov-config":
        cmd_checkov_config(Path(args[0]))
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
