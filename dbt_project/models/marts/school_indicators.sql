{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Per school part, year, level, method and indicator: the value, and for the 2017 method the standard
-- (seed indicator_standards, province override or national) and whether the part meets it.

with v as (
    select * from {{ ref('int_school_indicator_values') }}
    where {{ year_filter() }}
),

std as (
    select v.*, case when v.method = 'quality' then {{ cfg('st', 'standard') }} end as standard
    from v
    {{ cfg_join('indicator_standards', 'st', 'v.province_code', {'indicator': 'v.indicator', 'level': 'v.level'}) }}
)

select
    cast(school_code as varchar) as school_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(method as varchar) as method,
    cast(indicator as varchar) as indicator,
    cast(county_code as varchar) as county_code,
    cast(school_type as varchar) as school_type,
    cast(urban_rural as varchar) as urban_rural,
    cast(students as double) as students,
    cast(resource as double) as resource,
    cast(value as double) as value,
    cast(standard as double) as standard,
    cast(value >= standard as boolean) as meets,
    cast(case when standard > 0 then value / standard end as double) as share_of_standard,
    cast(warning_flagged as boolean) as warning_flagged
from std
