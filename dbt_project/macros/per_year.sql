{#-
  Per-year incremental models: in an incremental run read only the requested years, given either as
  --vars '{"year": N}' or as a range --vars '{"min_year": A, "max_year": B}' (a Dagster backfill of several
  partitions in one dbt invocation); without them (first build, full refresh) read every year.
  delete+insert on unique_key year then replaces exactly the years built.
-#}
{% macro requested_years_condition(column='year') -%}
    {%- if var('year', none) is not none -%}
        {{ column }} = {{ var('year') | int }}
    {%- elif var('min_year', none) is not none or var('max_year', none) is not none -%}
        {{ column }} between {{ var('min_year', var('max_year')) | int }} and {{ var('max_year', var('min_year')) | int }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro year_filter(column='year') -%}
    {%- if is_incremental() -%}
        {{ requested_years_condition(column) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#-
  Province-resolved configuration: national default rows carry province_code '*', a province override
  row (first two digits of county_code) is a complete row that replaces it. cfg_join emits two left joins
  (override and default); cfg(alias, column) picks the override value when there is an override row.
-#}
{% macro cfg_join(seed, alias, province_expr, keys) -%}
    left join {{ ref(seed) }} {{ alias }}_p
        on {{ alias }}_p.province_code = {{ province_expr }}
        {%- for k, v in keys.items() %} and {{ alias }}_p.{{ k }} = {{ v }}{% endfor %}
    left join {{ ref(seed) }} {{ alias }}_n
        on {{ alias }}_n.province_code = '*'
        {%- for k, v in keys.items() %} and {{ alias }}_n.{{ k }} = {{ v }}{% endfor %}
{%- endmacro %}

{% macro cfg(alias, column) -%}
    case when {{ alias }}_p.province_code is not null then {{ alias }}_p.{{ column }} else {{ alias }}_n.{{ column }} end
{%- endmacro %}
