{#-
  Column comments for the sources (raw.census_schools, raw.county_returns, marts.submission_flags): Python creates
  these tables (lib/warehouse.py), so dbt's persist_docs, which comments the models and seeds it builds, never reaches
  them. This on-run-end hook issues COMMENT ON TABLE / COLUMN from the descriptions in models/staging/_sources.yml for
  every source table and column that exists in the warehouse (a column the YAML does not describe keeps no comment,
  which tests/test_dbt_project.py catches). The macro returns the statements as the hook's SQL (one batch per
  invocation). dbt runs an on-run-end hook in the transaction that the look-ups above opened (get_columns_in_relation
  runs a query with auto-begin) and rolls it back afterwards, so the batch commits itself and leaves an empty
  transaction open for that rollback.
-#}
{% macro comment_sources() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set statements = [] -%}
    {%- for node in graph.sources.values() -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.identifier) -%}
        {%- if relation is not none -%}
            {%- if node.description -%}
                {%- do statements.append('comment on table ' ~ relation ~ ' is ' ~ duckdb_escape_comment(node.description)) -%}
            {%- endif -%}
            {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
            {%- for name, column in node.columns.items() if name in existing and column.description -%}
                {%- do statements.append('comment on column ' ~ relation ~ '.' ~ adapter.quote(name) ~ ' is '
                                         ~ duckdb_escape_comment(column.description)) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not statements -%}{{ return('') }}{%- endif -%}
    {{ return(statements | join(';\n') ~ ';\ncommit;\nbegin transaction') }}
{% endmacro %}
