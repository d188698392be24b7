{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- The gap to each 2017 standard in physical units summed per county, year and level (spec §5).

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(indicator as varchar) as indicator,
    cast(count(*) as integer) as schools_below,
    cast({{ exact_sum('gap') }} as double) as gap,  -- exact_sum: a year rebuilt alone equals a full build
    cast(any_value(unit) as varchar) as unit,
    cast(any_value(unit_en) as varchar) as unit_en
from {{ ref('school_standard_gap') }}
where {{ year_filter() }}
group by county_code, year, level, indicator
