{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Which schools keep a county's school-level items from being met (spec §4.1, §4.2, §4.4): one row per school (part)
-- and item that it fails (status not_met) or that cannot be judged for it (no_data: a needed census value is not
-- reported). QS per level from school_quality_compliance; G03, G04 and G05 from the census-based guarantee items.
-- The scorecard counts exactly these rows (quality_scorecard.schools_failing / schools_unknown).

with qs as (
    select
        county_code, year, 'QS' as item, level, school_code,
        case when compliant = false then 'not_met' else 'no_data' end as status,
        indicators_met, indicators_evaluated, lowest_share_missed, warning_flagged,
        cast(null as double) as compulsory_students, cast(null as double) as max_students,
        cast(null as double) as oversized_classes, cast(null as double) as rooms_needed
    from {{ ref('school_quality_compliance') }}
    where compliant is distinct from true and {{ year_filter() }}
),

guarantee as (
    select * from {{ ref('int_school_guarantee') }}
    where {{ year_filter() }}
),

g as (
    {%- for item, met, applies in [('G03', 'g03_met', 'g03_applies'), ('G04', 'g04_met', 'true'), ('G05', 'g05_met', 'true')] %}
    select
        county_code, year, '{{ item }}' as item, cast(null as varchar) as level, school_code,
        case when {{ met }} = false then 'not_met' else 'no_data' end as status,
        cast(null as integer) as indicators_met, cast(null as integer) as indicators_evaluated,
        cast(null as double) as lowest_share_missed, false as warning_flagged,
        compulsory_students, max_students, oversized_classes, rooms_needed
    from guarantee
    where {{ applies }} and {{ met }} is distinct from true
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

rows as (
    select * from qs
    union all by name
    select * from g
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(item as varchar) as item,
    cast(level as varchar) as level,
    cast(school_code as varchar) as school_code,
    cast(status as varchar) as status,
    cast(indicators_met as integer) as indicators_met,
    cast(indicators_evaluated as integer) as indicators_evaluated,
    cast(lowest_share_missed as double) as lowest_share_missed,
    cast(compulsory_students as double) as compulsory_students,
    cast(max_students as double) as max_students,
    cast(oversized_classes as double) as oversized_classes,
    cast(rooms_needed as double) as rooms_needed,
    cast(warning_flagged as boolean) as warning_flagged
from rows
