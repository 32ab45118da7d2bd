#include "graph/schema_tables.h"

const cvm_op_schema cvm_schemas_reduce[] = {
    {0},
};
