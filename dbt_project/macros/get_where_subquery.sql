{#-
  Data tests of a per-year run (--vars '{"year": N}' or '{"min_year": A, "max_year": B}', or JUNHENG_MIN_YEAR /
  JUNHENG_MAX_YEAR: see per_year.sql) look at those years only, so a partition's checks stay bounded however many
  years the warehouse holds. Every tested model has a `year` column. Without a window, all years.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if requested_window() is not none -%}
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
