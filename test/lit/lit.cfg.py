# lit configuration of chitu's FileCheck tests.
import os

import lit.formats

config.name = "chitu"
config.test_format = lit.formats.ShTest(not config.chitu_external_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.chitu_binary_dir, "test", "lit")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]

# chitu's tools first, then LLVM's FileCheck, not, count.
config.environment["PATH"] = os.pathsep.join(
    [config.chitu_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.environment["CHITU_CACHE_DIR"] = os.path.join(config.chitu_binary_dir, "nvrtc-cache")
config.substitutions.append(("%examples", os.path.join(config.chitu_source_dir, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%llm", os.path.join(config.chitu_source_dir, "test", "llm")))
config.substitutions.append(("%models", os.path.join(config.chitu_source_dir, "models")))
config.substitutions.append(("%python", config.python_executable))
