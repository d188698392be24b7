{#-
  Data tests of a per-year run (--vars '{"year": N}' or '{"min_year": A, "max_year": B}') look at those years
  only, so a partition's checks stay bounded however many years the warehouse holds. Every tested model has a
  `year` column. Without the vars, all years.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if var('year', none) is not none or var('min_year', none) is not none or var('max_year', none) is not none -%}
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
