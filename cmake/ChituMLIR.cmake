# Brings in LLVM/MLIR's CMake machinery (TableGen, add_mlir_* functions, LLVM's compile flags).
# Included only by the compiler-side directories (dialects/, passes/, compiler/) so that the
# runtime is built with none of LLVM's flags or libraries.
if(NOT MLIR_DIR AND EXISTS /usr/lib/llvm-22/lib/cmake/mlir)
  set(MLIR_DIR /usr/lib/llvm-22/lib/cmake/mlir)
endif()
find_package(MLIR REQUIRED CONFIG)
if(NOT LLVM_VERSION_MAJOR EQUAL 22)
  message(FATAL_ERROR "chitu needs LLVM/MLIR 22; found ${LLVM_PACKAGE_VERSION} at ${MLIR_DIR}")
endif()

list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
set(LLVM_RUNTIME_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/bin)
set(LLVM_LIBRARY_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/lib)
set(MLIR_BINARY_DIR ${CMAKE_BINARY_DIR})
# Link the shared libMLIR/libLLVM that Debian ships: fast links, small tools.
set(MLIR_LINK_MLIR_DYLIB ON)

include(TableGen)
include(AddLLVM)
include(AddMLIR)
include(HandleLLVMOptions)

separate_arguments(LLVM_DEFINITIONS_LIST NATIVE_COMMAND ${LLVM_DEFINITIONS})
add_definitions(${LLVM_DEFINITIONS_LIST})
include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})

set(CHITU_DIALECTS_INCLUDE_DIRS
    ${PROJECT_SOURCE_DIR}/dialects/include ${PROJECT_BINARY_DIR}/dialects/include)
set(CHITU_PASSES_INCLUDE_DIRS
    ${PROJECT_SOURCE_DIR}/passes/include ${PROJECT_BINARY_DIR}/passes/include)
