{#-
  persist_docs (dbt_project.yml: every model and seed) that writes only the comments the warehouse does not already
  hold. dbt-duckdb's own issues COMMENT ON TABLE and one COMMENT ON COLUMN per documented column, after two column
  look-ups, for every relation of every invocation: three invocations a load, although an incremental mart or a seed
  keeps its comments from one load to the next. Here one catalog query reads the relation's comments, and only a
  relation just created (a view, a rebuilt table, a new mart: no comments yet) or one whose YAML description changed
  gets COMMENT statements, in one batch. Same result in the warehouse; tests/test_dbt_project.py checks every column.
-#}
{% macro duckdb__persist_docs(relation, model, for_relation=true, for_columns=true) -%}
    {%- set want_relation = for_relation and config.persist_relation_docs() and model.description -%}
    {%- set want_columns = for_columns and config.persist_column_docs() and model.columns -%}
    {%- if not (want_relation or want_columns) -%}{{ return('') }}{%- endif -%}
    {%- set have = junheng_existing_comments([relation]) -%}
    {%- set statements = [] -%}
    {%- set key = (relation.schema | lower) ~ '.' ~ (relation.identifier | lower) ~ '.' -%}
    {%- if want_relation and have.get(key) != model.description -%}
        {%- do statements.append(duckdb__alter_relation_comment(relation, model.description) | trim) -%}
    {%- endif -%}
    {%- if want_columns -%}
        {%- for name, column in model.columns.items() if column.description -%}
            {%- set col_key = key ~ (name | lower) -%}
            {%- if col_key in have and have[col_key] != column.description -%}
                {%- do statements.append('comment on column ' ~ relation ~ '.'
                                         ~ (adapter.quote(name) if column.quote else name) ~ ' is '
                                         ~ duckdb_escape_comment(column.description) ~ ';') -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if statements -%}
        {%- do run_query(statements | join('\n')) -%}
    {%- endif -%}
{%- endmacro %}

{#-
  {'schema.name.': comment, 'schema.name.column': comment} (lower case; comment none when there is none) for the
  relations (tables or views) and their columns, in one query. A column that does not exist has no key.
-#}
{% macro junheng_existing_comments(relations) -%}
    {%- set wanted = [] -%}
    {%- for r in relations -%}
        {%- do wanted.append("('" ~ (r.schema | lower) ~ "', '" ~ (r.identifier | lower) ~ "')") -%}
    {%- endfor -%}
    {%- set query -%}
        select lower(schema_name), lower(table_name), '' as column_name, comment from duckdb_tables()
        where (lower(schema_name), lower(table_name)) in ({{ wanted | join(', ') }}) and database_name = current_database()
        union all
        select lower(schema_name), lower(view_name), '', comment from duckdb_views()
        where (lower(schema_name), lower(view_name)) in ({{ wanted | join(', ') }}) and database_name = current_database()
        union all
        select lower(schema_name), lower(table_name), lower(column_name), comment from duckdb_columns()
        where (lower(schema_name), lower(table_name)) in ({{ wanted | join(', ') }}) and database_name = current_database()
    {%- endset -%}
    {%- set have = {} -%}
    {%- for row in run_query(query).rows -%}
        {%- do have.update({row[0] ~ '.' ~ row[1] ~ '.' ~ row[2]: row[3]}) -%}
    {%- endfor -%}
    {{ return(have) }}
{%- endmacro %}
