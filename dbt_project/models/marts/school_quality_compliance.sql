{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Per school part of the 2017 scope: how many of the seven indicators it meets and the 6-of-7 / 85% rule
-- (spec §4.1; both numbers in seed method_constants). compliant is NULL when unreported indicators leave it open.

with s as (
    select * from {{ ref('school_indicators') }}
    where method = 'quality' and {{ year_filter() }}
),

per_school as (
    select
        school_code, year, level, county_code,
        left(county_code, 2) as province_code,
        any_value(school_type) as school_type,
        any_value(urban_rural) as urban_rural,
        any_value(students) as students,
        count(*) as indicators,
        count(value) as indicators_evaluated,
        count(*) filter (where meets) as indicators_met,
        min(share_of_standard) filter (where not meets) as lowest_share_missed,
        bool_or(warning_flagged) as warning_flagged
    from s
    group by school_code, year, level, county_code
),

ruled as (
    select
        p.*,
        case
            when p.indicators_evaluated - p.indicators_met > p.indicators - {{ cfg('mn', 'value') }} then false
            when p.lowest_share_missed < {{ cfg('sh', 'value') }} then false
            when p.indicators_evaluated = p.indicators then true
        end as compliant
    from per_school p
    {{ cfg_join('method_constants', 'mn', 'p.province_code', {'constant': "'school_min_indicators_met'"}) }}
    {{ cfg_join('method_constants', 'sh', 'p.province_code', {'constant': "'school_min_share_of_standard'"}) }}
)

select
    cast(school_code as varchar) as school_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(county_code as varchar) as county_code,
    cast(school_type as varchar) as school_type,
    cast(urban_rural as varchar) as urban_rural,
    cast(students as double) as students,
    cast(indicators_met as integer) as indicators_met,
    cast(indicators_evaluated as integer) as indicators_evaluated,
    cast(lowest_share_missed as double) as lowest_share_missed,
    cast(compliant as boolean) as compliant,
    cast(warning_flagged as boolean) as warning_flagged
from ruled
