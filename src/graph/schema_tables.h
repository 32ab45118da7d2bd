/* The per-group schema tables (each ends with an entry whose type is NULL). */
#ifndef CVM_GRAPH_SCHEMA_TABLES_H
#define CVM_GRAPH_SCHEMA_TABLES_H

#include "graph/schema.h"

extern const cvm_op_schema cvm_schemas_elementwise[]; /* shape_elementwise.c */
extern const cvm_op_schema cvm_schemas_nn[];          /* shape_nn.c */
extern const cvm_op_schema cvm_schemas_tensor[];      /* shape_tensor.c */
extern const cvm_op_schema cvm_schemas_reduce[];      /* shape_reduce.c */
extern const cvm_op_schema cvm_schemas_quant[];       /* shape_quant.c */
extern const cvm_op_schema cvm_schemas_detection[];   /* shape_detection.c */

#endif
