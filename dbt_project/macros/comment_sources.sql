{#-
  Column comments for the sources (raw.census_schools, raw.county_returns, marts.submission_flags, ...): Python creates
  these tables (lib/warehouse.py), so dbt's persist_docs, which comments the models and seeds it builds, never reaches
  them. This on-run-end hook issues COMMENT ON TABLE / COLUMN from the descriptions in models/staging/_sources.yml for
  every source table and column that exists in the warehouse and does not already carry that comment (a column the
  YAML does not describe keeps no comment, which tests/test_dbt_project.py catches). One catalog query
  (junheng_existing_comments, macros/persist_docs.sql) finds what is missing: after the first load nothing is, and the
  hook issues no statement (it used to look up every source's relation and columns and re-comment every column, in
  every invocation). The statements run as one batch in a transaction of their own, committed here (the hook's own
  SQL is empty).
-#}
{% macro comment_sources() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set relations = [] -%}
    {%- for node in graph.sources.values() -%}
        {%- do relations.append(api.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier)) -%}
    {%- endfor -%}
    {%- set have = junheng_existing_comments(relations) -%}
    {%- set statements = [] -%}
    {%- for node in graph.sources.values() -%}
        {%- set key = (node.schema | lower) ~ '.' ~ (node.identifier | lower) ~ '.' -%}
        {%- if key in have -%}
            {%- set relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier) -%}
            {%- if node.description and have[key] != node.description -%}
                {%- do statements.append('comment on table ' ~ relation ~ ' is ' ~ duckdb_escape_comment(node.description)) -%}
            {%- endif -%}
            {%- for name, column in node.columns.items() if column.description -%}
                {%- set col_key = key ~ (name | lower) -%}
                {%- if col_key in have and have[col_key] != column.description -%}
                    {%- do statements.append('comment on column ' ~ relation ~ '.' ~ adapter.quote(name) ~ ' is '
                                             ~ duckdb_escape_comment(column.description)) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if statements -%}
        {%- call statement('comment_sources', auto_begin=true) -%}{{ statements | join(';\n') }}{%- endcall -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
