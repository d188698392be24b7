{#-
  Data tests of a per-year run (--vars '{"year": N}' or '{"min_year": A, "max_year": B}': see per_year.sql) look
  at those years only, so a partition's checks stay bounded however many years the warehouse holds. Every tested
  per-year model has a `year` column. Trend models (tag `trend`) are rebuilt whole and tested whole: a load passes
  the same --vars to every invocation (one parse per load), so the window must not narrow their tests. Seeds have
  no year: their tests (in the load's first step) look at the whole seed. Without a window, all years.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if requested_window() is not none and not _tests_a_trend_model(relation) -%}
        {%- set year_where = requested_years_condition('year') -%}
        {%- set where = year_where if not where else '(' ~ where ~ ') and ' ~ year_where -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro _tests_a_trend_model(relation) -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if (node.resource_type == 'seed' or (node.resource_type == 'model' and 'trend' in node.tags))
              and (node.alias or node.name) | lower == (relation.identifier or '') | lower
              and (node.schema or '') | lower == (relation.schema or '') | lower -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}
