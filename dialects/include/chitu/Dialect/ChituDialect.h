//===- ChituDialect.h - the chitu dialect -----------------------*- C++ -*-===//
#ifndef CHITU_DIALECT_CHITUDIALECT_H
#define CHITU_DIALECT_CHITUDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "chitu/Dialect/ChituOpsDialect.h.inc"

#endif // CHITU_DIALECT_CHITUDIALECT_H
